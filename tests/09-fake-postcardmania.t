#!/bin/sh
# The fake PostcardMania the other tests run against: its own self-test (TAP).
exec python3 "$(dirname "$0")/fakes/test_fake_postcardmania.py"
