#!/usr/bin/env bash
# Kept so that `load net-helpers` still works: every helper lives in helpers.bash (the net part).
# shellcheck source=tests/integration/helpers.bash
. "$(dirname "${BASH_SOURCE[0]}")/helpers.bash"
