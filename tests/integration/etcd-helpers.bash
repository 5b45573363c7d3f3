#!/usr/bin/env bash
# Kept so that `load etcd-helpers` still works: every helper lives in helpers.bash (the etcd part).
# shellcheck source=tests/integration/helpers.bash
. "$(dirname "${BASH_SOURCE[0]}")/helpers.bash"
