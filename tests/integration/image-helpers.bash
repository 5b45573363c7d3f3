#!/usr/bin/env bash
# Kept so that `load image-helpers` still works: every helper lives in helpers.bash (the image part).
# shellcheck source=tests/integration/helpers.bash
. "$(dirname "${BASH_SOURCE[0]}")/helpers.bash"
