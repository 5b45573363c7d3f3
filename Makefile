# drover build. `make` builds the four programs; `make check` is the full test run.
PREFIX ?= /usr/local
UNITDIR ?= $(PREFIX)/lib/systemd/system
DESTDIR ?=
BUILD ?= build
SAN ?= 0

PKGS := jansson libnl-3.0 libnl-route-3.0 libnftables libnftnl libmnl libseccomp libcap libmicrohttpd libcurl libarchive libcrypto libsystemd gnutls
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

CC ?= cc
WARN := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wstrict-prototypes -Wmissing-prototypes
CFLAGS ?= -O2 -g
CFLAGS += -std=gnu11 $(WARN) -D_GNU_SOURCE -D_FORTIFY_SOURCE=2 -fstack-protector-strong -I. $(PKG_CFLAGS)
LDFLAGS ?=
# full RELRO: the GOT is read-only after start-up, so a memory bug cannot redirect a libc call
LDFLAGS += -Wl,-z,relro,-z,now
ifeq ($(SAN),1)
CFLAGS += -fsanitize=address,undefined -fno-omit-frame-pointer -O1
LDFLAGS += -fsanitize=address,undefined
endif
ifeq ($(FUZZ),1)
CFLAGS += -fsanitize=fuzzer-no-link -fno-sanitize-recover=undefined -Wno-format-nonliteral
endif

VERSION := $(shell git describe --always --dirty 2>/dev/null || echo 0.1)
VERSION_FLAG := -DDROVER_VERSION='"$(VERSION)"'

COMMON_SRC := $(wildcard common/*.c)
LIB_SRC := $(COMMON_SRC) $(filter-out image/img-tool.c,$(wildcard image/*.c)) \
	$(wildcard runtime/*.c cgroups/*.c net/*.c http/*.c etcd/*.c spec/*.c) $(filter-out agent/main.c,$(wildcard agent/*.c))
# The digest and archive half of image/ runs in drover-image, never inside droverd: the agent
# stays small (no libcrypto, libarchive and their dependencies mapped) and its loop never unpacks.
IMG_TOOL_SRC := image/img-blob.c image/img-layout.c image/img-record.c image/img-store.c image/img-unpack.c \
	image/img-auth.c image/img-platform.c image/img-http.c image/img-registry.c \
	image/img-pull.c image/img-gc.c image/img-import.c image/img-policy.c
AGENT_SRC := $(filter-out $(IMG_TOOL_SRC),$(LIB_SRC))
# libcurl is not linked: agent/httpc.c loads it (dlopen) only when a control plane is configured.
AGENT_LIBS := $(shell pkg-config --libs jansson libnl-3.0 libnl-route-3.0 libnftables libnftnl libmnl libseccomp libcap libmicrohttpd gnutls libsystemd 2>/dev/null)
SHIM_SRC := $(wildcard runtime/shim/*.c) common/crash.c common/err.c common/fs.c common/timeutil.c common/log.c common/spawn.c
CTL_SRC := $(wildcard cli/*.c) $(COMMON_SRC)
UNIT_SRC := $(wildcard tests/unit/test_*.c)

obj = $(patsubst %.c,$(BUILD)/%.o,$(1))
LIB_OBJ := $(call obj,$(LIB_SRC))
UNIT_BIN := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))

BINS := $(BUILD)/droverd $(BUILD)/drover-shim $(BUILD)/droverctl $(BUILD)/drover-image
TEST_HELPERS := $(BUILD)/tests/notify-listen $(BUILD)/tests/net-harness $(BUILD)/tests/clone-ns $(BUILD)/tests/raw-send \
	$(BUILD)/tests/sd-notify

# torture: the crash-torture harness (tests/torture/run.sh; TORTURE_KILLS, TORTURE_STEADY, TORTURE_CHURN).
.PHONY: format-check all check check-v2 unit sanitize sanitize-build integration lint bench torture install uninstall deb clean demo run format fuzz fuzz-build fuzz-smoke
all: $(BINS)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(VERSION_FLAG) -MMD -MP -c $< -o $@

$(BUILD)/libdrover.a: $(LIB_OBJ)
	ar rcs $@ $^

$(BUILD)/droverd: $(call obj,agent/main.c $(AGENT_SRC))
	$(CC) $(LDFLAGS) -Wl,--as-needed -o $@ $^ $(AGENT_LIBS)

$(BUILD)/drover-image: $(call obj,image/img-tool.c image/img-config.c image/img-ref.c $(IMG_TOOL_SRC) $(COMMON_SRC))
	$(CC) $(LDFLAGS) -Wl,--as-needed -pthread -o $@ $^ $(shell pkg-config --libs jansson libarchive libcrypto libcurl)

# The shim links libc only: it is one process per container, so every page counts. It links it
# statically (static-pie: still at a random address): no dynamic loader on every start's path (spawn
# to exit of `--version` 1.0 -> 0.78 ms here) and 64 kB private dirty per running shim instead of
# 108 kB (no relocated libc data). The sanitizers need their dynamic runtime.
SHIM_STATIC := -static-pie
ifeq ($(SAN),1)
SHIM_STATIC :=
endif
$(BUILD)/drover-shim: $(call obj,$(SHIM_SRC))
	$(CC) $(LDFLAGS) $(SHIM_STATIC) -o $@ $^

$(BUILD)/droverctl: $(call obj,$(CTL_SRC))
	$(CC) $(LDFLAGS) -o $@ $^ $(shell pkg-config --libs jansson libcurl)

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libdrover.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -MMD -MP -o $@ $< $(BUILD)/libdrover.a $(PKG_LIBS) -lcmocka

unit: $(UNIT_BIN)
	@tests/run-unit.sh $(UNIT_BIN)

# The integration smoke subset run against the sanitizer build.
SMOKE := spec file in the assignments dir|exit codes|kill -9|malformed|bad API|logs -f|higher revision
sanitize-build:
	$(MAKE) BUILD=build-san SAN=1 all $(patsubst $(BUILD)/%,build-san/%,$(UNIT_BIN))
sanitize: sanitize-build
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		tests/run-unit.sh $(patsubst $(BUILD)/%,build-san/%,$(UNIT_BIN))
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		DROVER_BUILD=build-san DROVER_FILTER='$(SMOKE)' tests/run-integration.sh tests/integration/20-agent.bats

# libFuzzer harnesses (tests/fuzz/fuzz_*.c) built with clang into build-fuzz/. `make fuzz` runs each for
# FUZZ_TIME seconds; `make fuzz-smoke` replays the seed corpora and regressions and runs each for 5 s.
FUZZ_TIME ?= 60
comma := ,
FUZZ_BINS := $(patsubst tests/fuzz/%.c,build-fuzz/fuzz/%,$(wildcard tests/fuzz/fuzz_*.c))
build-fuzz/fuzz/%: tests/fuzz/%.c $(wildcard tests/fuzz/*.h) build-fuzz/libdrover.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -fsanitize=fuzzer $(LDFLAGS) $(FUZZ_WRAP) -o $@ $< build-fuzz/libdrover.a $(PKG_LIBS)
# The API and assignments-dir harnesses keep containers and drover-image out (tests/fuzz/fuzz-agent.h).
build-fuzz/fuzz/fuzz_api build-fuzz/fuzz/fuzz_assignments: FUZZ_WRAP := $(patsubst %,-Wl$(comma)--wrap=%,agent_apply agent_remove agent_remove_opt \
	agent_image_run agent_image_forget cg_ctx_version inotify_init1 inotify_add_watch)
# The registry harness pins curl to its own server on 127.0.0.1 and skips back-off sleeps.
build-fuzz/fuzz/fuzz_img_registry: FUZZ_WRAP := -Wl,--wrap=curl_easy_reset,--wrap=nanosleep
fuzz-build:
	$(MAKE) BUILD=build-fuzz CC=clang SAN=1 FUZZ=1 $(FUZZ_BINS)
fuzz: fuzz-build
	@tests/fuzz/run.sh $(FUZZ_TIME) $(FUZZ_BINS)
fuzz-smoke: fuzz-build
	@tests/fuzz/run.sh smoke $(FUZZ_BINS)

$(BUILD)/tests/notify-listen: tests/helpers/notify-listen.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $<

# Run inside test containers (25-container-security.bats, 75-net-security.bats): static, so any image
# works, and without the sanitizers (they cannot link statically), so build-san has them too.
$(BUILD)/tests/clone-ns: tests/helpers/clone-ns.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -O2 $(WARN) -D_GNU_SOURCE -static -o $@ $<

# Hand-made frames from inside a container (75-net-security.bats).
$(BUILD)/tests/raw-send: tests/helpers/raw-send.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -O2 $(WARN) -D_GNU_SOURCE -static -o $@ $<

# A service's sd_notify from inside a container (77-health.bats).
$(BUILD)/tests/sd-notify: tests/helpers/sd-notify.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -O2 $(WARN) -D_GNU_SOURCE -static -o $@ $<

# A small CLI over net/ for tests/integration/40-net.bats.
$(BUILD)/tests/net-harness: $(call obj,tests/helpers/net-harness.c $(wildcard net/*.c) $(COMMON_SRC))
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(shell pkg-config --libs libnl-3.0 libnl-route-3.0 libnftables libnftnl libmnl jansson)

integration: all $(TEST_HELPERS)
	@tests/run-integration.sh

# The cgroup-touching integration tests on a real cgroup v2 kernel, in a qemu guest (tests/v2/).
torture: all
	@tests/torture/run.sh

check-v2: all
	@tests/v2/run.sh $(BUILD)

# The README's test command: install deps, then every unit, sanitizer, fuzz-smoke, lint, integration
# and cgroup v2 test.
check:
	@tests/run-all.sh

# cppcheck cannot see __attribute__((cleanup)), so its leak check is off here; LeakSanitizer
# in `make sanitize` checks leaks for real.
lint: $(BUILD)/compile_commands.json
	cppcheck -j2 --quiet --enable=warning,portability --error-exitcode=1 --inline-suppr \
		--suppress=missingIncludeSystem --suppress=memleak --suppress=resourceLeak \
		-I. -D_GNU_SOURCE common image runtime cgroups net http etcd spec agent cli
	@tests/run-tidy.sh $(BUILD) $(filter-out tests/%,$(LIB_SRC) agent/main.c image/img-tool.c $(wildcard runtime/shim/*.c cli/*.c))
	@if grep -rnE '\b(system|popen)\s*\(|execvp\s*\(|"sh", *"-c"' --include='*.c' --include='*.h' \
		common image runtime cgroups net http spec agent cli; then echo "lint: shell or PATH-lookup exec found" >&2; exit 1; fi
	@if grep -rnE '(->|\.)(phase|removing|force_stop|next_spec|next_try_at)\s*=[^=]|\bi->(message|backoff_ms)\s*=[^=]|->reason\[|\(i->reason,' \
		--include='*.c' agent | grep -v '^agent/lifecycle\.c:'; then \
		echo "lint: only agent/lifecycle.c writes an instance's phase, reason and intent" >&2; exit 1; fi
	@tests/include-cycles.py agent runtime runtime/shim image net cgroups http spec etcd common cli

# compile_commands.json without bear: one entry per source, the flags we build with.
$(BUILD)/compile_commands.json: Makefile
	@mkdir -p $(BUILD)
	@tests/gen-compdb.sh '$(CC) $(CFLAGS)' $(LIB_SRC) agent/main.c image/img-tool.c $(wildcard runtime/shim/*.c cli/*.c) > $@

$(BUILD)/bench/put-wait: bench/put-wait.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(shell pkg-config --libs libcurl jansson)

$(BUILD)/bench/exec-stamp: bench/exec-stamp.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $<

$(BUILD)/bench/scale-wait: bench/scale-wait.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(shell pkg-config --libs libcurl jansson)

# The colocation bench (bench/coloc.sh): an open-loop load generator on the host, and a light
# online server that runs inside the busybox bench image (static, no sanitizers).
$(BUILD)/bench/loadgen: bench/loadgen.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -O2 $(WARN) -D_GNU_SOURCE -o $@ $<

$(BUILD)/bench/online-srv: bench/online-srv.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -O2 $(WARN) -D_GNU_SOURCE -static -o $@ $<

BENCH_BINS := $(BUILD)/bench/put-wait $(BUILD)/bench/exec-stamp $(BUILD)/bench/loadgen $(BUILD)/bench/online-srv \
	$(BUILD)/bench/scale-wait

bench: all $(BENCH_BINS) $(TEST_HELPERS)
	bench/run.sh
	bench/intake.sh
	bench/probes.sh
	bench/coloc.sh
	bench/scale.sh

demo: all
	demo/build-image.sh /var/lib/drover/layouts/demo

run:
	demo/run.sh

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

# Formatting is mechanical: .clang-format decides; `// clang-format off` only around tables.
format-check:
	@clang-format --dry-run -Werror $$(git ls-files '*.c' '*.h') && echo "format: 1 passed, 0 failed"

# The example config is generated from droverd's flag table, so it lists every key.
$(BUILD)/droverd.conf.example: $(BUILD)/droverd
	$< --print-config >$@

install: all $(BUILD)/droverd.conf.example
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)/etc/drover/assignments.d \
		$(DESTDIR)$(UNITDIR) $(DESTDIR)$(PREFIX)/lib/tmpfiles.d
	install -m 0755 $(BUILD)/droverd $(BUILD)/droverctl $(BUILD)/drover-shim $(BUILD)/drover-image \
		$(DESTDIR)$(PREFIX)/bin/
	sed 's|/usr/local/bin/|$(PREFIX)/bin/|g' systemd/droverd.service > $(DESTDIR)$(UNITDIR)/droverd.service
	install -m 0644 systemd/drover.tmpfiles $(DESTDIR)$(PREFIX)/lib/tmpfiles.d/drover.conf
	install -m 0644 $(BUILD)/droverd.conf.example $(DESTDIR)/etc/drover/droverd.conf.example

# What install put there; /etc/drover/droverd.conf, the assignments and the state dirs stay
# (droverd --cleanup first removes what the agent made on the host).
uninstall:
	rm -f $(addprefix $(DESTDIR)$(PREFIX)/bin/,droverd droverctl drover-shim drover-image) \
		$(DESTDIR)$(UNITDIR)/droverd.service $(DESTDIR)$(PREFIX)/lib/tmpfiles.d/drover.conf \
		$(DESTDIR)/etc/drover/droverd.conf.example
	-rmdir $(DESTDIR)/etc/drover/assignments.d $(DESTDIR)/etc/drover 2>/dev/null

deb: all $(BUILD)/droverd.conf.example
	@scripts/build-deb.sh $(BUILD) $(VERSION)

clean:
	rm -rf build build-san build-fuzz

-include $(shell find $(BUILD) -name '*.d' -type f 2>/dev/null)
