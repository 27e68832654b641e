# pinegate build. Sources are discovered by folder, so adding a module is adding files:
#   gateway/**/*.c (except main.c) -> libpinegate.a;  gateway/main.c -> pinegate
#   tests/unit/*.c + tests/integration/*.c -> one Criterion binary per folder
#   tests/fuzz/fuzz_*.c -> one libFuzzer binary each (clang)
#   tests/bench/bench_*.c -> one benchmark binary each
# Two build flavours: build/release (make run, make bench) and build/test (ASan+UBSan).

CC        ?= cc
FUZZ_CC   ?= clang
PKGS      := libmicrohttpd libcurl openssl gnutls libsodium sqlite3 jansson yaml-0.1 \
             libngtcp2 libngtcp2_crypto_gnutls
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lwslay -lhttp_parser -lpthread -lm

WARN      := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wno-missing-field-initializers -Wno-unknown-warning-option -Wno-format-truncation
VERSION   := $(shell git describe --always --dirty 2>/dev/null || echo 0.1.0)
BASEFLAGS := -std=c11 -D_GNU_SOURCE -Igateway $(WARN) $(PKG_CFLAGS) \
             -DPG_SOURCE_DIR='"$(CURDIR)"' -DPG_VERSION='"$(VERSION)"'

REL_DIR   := build/release
TEST_DIR  := build/test
FUZZ_DIR  := build/fuzz
REL_FLAGS := -O2 -g
TEST_FLAGS:= -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined

LIB_SRC   := $(shell find gateway -name '*.c' ! -path gateway/main.c | sort)
UNIT_SRC  := $(sort $(wildcard tests/unit/*.c))
INTEG_SRC := $(sort $(wildcard tests/integration/*.c))
FUZZ_SRC  := $(sort $(wildcard tests/fuzz/fuzz_*.c))
BENCH_SRC := $(sort $(wildcard tests/bench/bench_*.c))
TEST_HELPERS := $(sort $(wildcard tests/support/*.c))

# Quiet by default: one line per file. `make V=1 ...` shows the full commands.
V ?= 0
ifeq ($(V),0)
Q := @
say = @printf '  %-6s %s\n' $(1) $(2)
else
Q :=
say = @:
endif

FUZZ_SECONDS ?= 10
FUZZ_LONG_SECONDS ?= 600

.PHONY: all deps build run test unit integration clients fuzz-smoke fuzz bench soak clean check-layers

all: build

deps:
	@scripts/deps.sh

# ---- release build -------------------------------------------------------------
REL_OBJ := $(LIB_SRC:%.c=$(REL_DIR)/obj/%.o)
$(REL_DIR)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(call say,CC,$<)
	$(Q)$(CC) $(BASEFLAGS) $(REL_FLAGS) -MMD -MP -c $< -o $@
$(REL_DIR)/libpinegate.a: $(REL_OBJ)
	@rm -f $@; ar rcs $@ $^
$(REL_DIR)/pinegate: $(REL_DIR)/obj/gateway/main.o $(REL_DIR)/libpinegate.a
	$(call say,LINK,$@)
	$(Q)$(CC) $(REL_FLAGS) $^ $(PKG_LIBS) -o $@

build: deps $(REL_DIR)/pinegate

run: build
	@scripts/run.sh $(REL_DIR)/pinegate

# ---- test build (ASan + UBSan) ---------------------------------------------------
TEST_OBJ := $(LIB_SRC:%.c=$(TEST_DIR)/obj/%.o)
$(TEST_DIR)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(call say,CC,$<)
	$(Q)$(CC) $(BASEFLAGS) $(TEST_FLAGS) -Itests -MMD -MP -c $< -o $@
$(TEST_DIR)/libpinegate.a: $(TEST_OBJ)
	@rm -f $@; ar rcs $@ $^
$(TEST_DIR)/pinegate: $(TEST_DIR)/obj/gateway/main.o $(TEST_DIR)/libpinegate.a
	$(call say,LINK,$@)
	$(Q)$(CC) $(TEST_FLAGS) $^ $(PKG_LIBS) -o $@
$(TEST_DIR)/unit-tests: $(UNIT_SRC:%.c=$(TEST_DIR)/obj/%.o) $(TEST_HELPERS:%.c=$(TEST_DIR)/obj/%.o) $(TEST_DIR)/libpinegate.a
	$(call say,LINK,$@)
	$(Q)$(CC) $(TEST_FLAGS) $^ $(PKG_LIBS) -lcriterion -o $@
$(TEST_DIR)/integration-tests: $(INTEG_SRC:%.c=$(TEST_DIR)/obj/%.o) $(TEST_HELPERS:%.c=$(TEST_DIR)/obj/%.o) $(TEST_DIR)/libpinegate.a
	$(call say,LINK,$@)
	$(Q)$(CC) $(TEST_FLAGS) $^ $(PKG_LIBS) -lcriterion -o $@

# Leak checking stays on; Criterion's own runner allocations are not ours, so the
# suppression file names only Criterion internals.
TEST_ENV := ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
            LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp:print_suppressions=0 \
            UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
            PINEGATE_BIN=$(CURDIR)/$(TEST_DIR)/pinegate

check-layers:
	@scripts/check-layers.sh

unit: $(TEST_DIR)/unit-tests
	$(TEST_ENV) $(TEST_DIR)/unit-tests --jobs 2 --short-filename

# Integration tests start several real processes (nodes, servers): they run in a network
# namespace of their own (scripts/in-netns.sh).
integration: $(TEST_DIR)/integration-tests $(TEST_DIR)/pinegate
	$(TEST_ENV) scripts/in-netns.sh $(TEST_DIR)/integration-tests --jobs 1 --short-filename

# Real matrix-js-sdk clients (tests/js, installed by make deps) against real servers.
clients: $(TEST_DIR)/pinegate
	$(TEST_ENV) node --test --test-force-exit --test-concurrency=1 tests/js/scenarios/

test: deps check-layers
	@$(MAKE) --no-print-directory unit
	@$(MAKE) --no-print-directory integration
	@$(MAKE) --no-print-directory clients
	@$(MAKE) --no-print-directory fuzz-smoke

# ---- fuzzing (clang + libFuzzer) ------------------------------------------------------
FUZZ_FLAGS := -O1 -g -fsanitize=fuzzer-no-link,address,undefined
FUZZ_OBJ := $(LIB_SRC:%.c=$(FUZZ_DIR)/obj/%.o)
$(FUZZ_DIR)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(call say,CC,$<)
	$(Q)$(FUZZ_CC) $(BASEFLAGS) $(FUZZ_FLAGS) -Wno-unused-command-line-argument -MMD -MP -c $< -o $@
$(FUZZ_DIR)/libpinegate.a: $(FUZZ_OBJ)
	@rm -f $@; ar rcs $@ $^
$(FUZZ_DIR)/%: tests/fuzz/%.c $(FUZZ_DIR)/libpinegate.a
	$(call say,FUZZ,$@)
	$(Q)$(FUZZ_CC) $(BASEFLAGS) -Itests -O1 -g -fsanitize=fuzzer,address,undefined $^ $(PKG_LIBS) -o $@
FUZZ_BINS := $(FUZZ_SRC:tests/fuzz/%.c=$(FUZZ_DIR)/%)

fuzz-smoke: $(FUZZ_BINS)
	@FUZZ_SEED=1 scripts/fuzz.sh $(FUZZ_SECONDS) $(FUZZ_BINS)
fuzz: deps $(FUZZ_BINS)
	@scripts/fuzz.sh $(FUZZ_LONG_SECONDS) $(FUZZ_BINS)

# ---- benchmarks and soak ----------------------------------------------------------------
BENCH_BINS := $(BENCH_SRC:tests/bench/%.c=$(REL_DIR)/bench/%)
$(REL_DIR)/bench/%: tests/bench/%.c $(REL_DIR)/libpinegate.a
	@mkdir -p $(dir $@)
	$(call say,LINK,$@)
	$(Q)$(CC) $(BASEFLAGS) -Itests $(REL_FLAGS) $^ $(PKG_LIBS) -o $@
bench: deps $(BENCH_BINS) $(REL_DIR)/pinegate
	@for b in $(BENCH_BINS); do echo "== $$b"; PINEGATE_BIN=$(CURDIR)/$(REL_DIR)/pinegate $$b || exit 1; done

soak: deps $(REL_DIR)/pinegate
	@scripts/soak.sh $(REL_DIR)/pinegate

clean:
	rm -rf build

-include $(shell find build -name '*.d' 2>/dev/null)
