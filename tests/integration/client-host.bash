#!/usr/bin/env bash
# Kept so that `load client-host` still works: every helper lives in helpers.bash (the client host part).
# shellcheck source=tests/integration/helpers.bash
. "$(dirname "${BASH_SOURCE[0]}")/helpers.bash"
