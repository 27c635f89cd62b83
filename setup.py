from setuptools import find_packages, setup

with open("README.md", encoding="utf-8") as fh:
    long_description = fh.read()

setup(
    name="pyramid_session_redis",
    version="2.0.0.dev0",
    description="Server-side Pyramid sessions in Redis: lazy, and one Redis command per request.",
    long_description=long_description,
    long_description_content_type="text/markdown",
    license="BSD-2-Clause",
    packages=find_packages(include=["pyramid_session_redis", "pyramid_session_redis.*"]),
    # The pytest11 entry point below: top-level, so that pytest loads it without importing the package.
    py_modules=["_pyramid_session_redis_pytest"],
    include_package_data=True,
    # PEP 561: the package's own annotations are used by type checkers.
    package_data={"pyramid_session_redis": ["py.typed"]},
    python_requires=">=3.8",
    # webob>=1.8.3, not 1.8: pyramid 2.0 itself requires 1.8.3, so nothing older can be
    # installed with it (scripts/matrix.sh's floor job tests exactly these minimums).
    install_requires=["pyramid>=2.0", "webob>=1.8.6", "redis>=4.6"],
    extras_require={
        # msgspec, when installed, decodes stored JSON 2-4x faster (docs/performance.rst);
        # serializer = msgspec also encodes with it (docs/serializers.rst).
        "msgspec": ["msgspec>=0.18"],
        # serializer = orjson
        "orjson": ["orjson>=3.9"],
        # serializer = msgpack
        "msgpack": ["msgpack>=1.0"],
        # The toolbar panel (docs/debugtoolbar.rst): config.include("pyramid_session_redis.debugtoolbar").
        "debugtoolbar": ["pyramid_debugtoolbar>=4.12"],
        "testing": [
            "pytest>=7", "pytest-cov", "webtest>=3", "hypothesis>=6", "msgspec>=0.18", "msgpack>=1.0",
            "orjson>=3.9", "pyramid_debugtoolbar>=4.12",
            # tests/test_loadtest_stall.py: the site under gunicorn while Redis stalls.
            "gunicorn",
            # docs/faq.rst's pyramid_tm example is run by tests/test_docs_snippets.py.
            "pyramid_tm>=2", "transaction>=3",
        ],
        "demo": ["waitress", "pyramid_debugtoolbar>=4.12"],
        # tests/test_demo_browser.py: Playwright drives the system's Chromium through the demo
        # (scripts/browser.sh installs both).  Not in `testing`: ~170 MB that only that test
        # uses, and useless without a Chromium; the test skips without them.
        "browser": ["playwright>=1.40"],
        # The benchmark's own needs (scripts/bench.sh): plots, and what it measures.
        "bench": ["matplotlib", "hiredis", "orjson", "msgspec", "waitress"],
        # scripts/lint.sh; pinned, so that a new release cannot break CI overnight.
        "lint": ["mypy==2.4.1", "ruff==0.17.6"],
    },
    entry_points={
        # The operators' tool (docs/cli.rst): pyramid-session-redis development.ini stats
        "console_scripts": ["pyramid-session-redis = pyramid_session_redis.cli:main"],
        # Always loaded by pytest, it only adds the ini switch pyramid_session_redis_fixtures:
        # the fixtures (docs/testing.rst) stay off unless a project asks for them.
        "pytest11": ["pyramid_session_redis = _pyramid_session_redis_pytest"],
    },
    classifiers=[
        "Framework :: Pyramid",
        "Intended Audience :: Developers",
        "Programming Language :: Python :: 3",
        "Typing :: Typed",
        "Topic :: Internet :: WWW/HTTP :: Session",
    ],
    keywords="pyramid session redis",
    zip_safe=False,
)
