#!/bin/sh
# The C unit tests print TAP themselves.
exec "$(dirname "$0")/unit/test-lib"
