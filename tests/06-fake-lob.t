#!/bin/sh
# The fake Lob the other tests run against, and its agreement with Prism
# serving Lob's OpenAPI spec: its own self-test (TAP).
exec python3 "$(dirname "$0")/fakes/test_fake_lob.py"
