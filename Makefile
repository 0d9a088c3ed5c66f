# JCS-C build.
#
#   make            release binaries in build/bin
#   make test       ASan+UBSan build in build/asan, then every unit and integration test
#   make run        a local JointCloud in the foreground (run/), Ctrl-C stops it
#   make bench      benchmarks beside this machine's ceilings, then user-side figures
#   make bench-peer the same user-side workloads against OpenStack Swift (SWIFT_PEER=dir)
#   make deps       installs every package the product and the tests need (idempotent);
#                   `make run` installs only the product's (deploy/deps.sh), `make test`
#                   adds the test tools (deploy/deps.sh --test)
#   make test-deploy  docker-compose deployment on this machine's Docker engine (smoke test)
#   make CC=clang   the same tree with clang
#
# Sources are found by wildcard: a new common/LAYER/*.c, client/AREA/*.c,
# proto/*.proto or tests/unit/test_*.c needs no edit here.
#
# Include paths enforce the layering: every file sees common/'s layer
# folders and the generated protobuf headers; a service's files also see
# their own folders (client/ and its sub-folders for the client), so a hub
# file cannot include a client header. Tests see everything they test.
# tests/lint/includes.sh checks the same rule on the sources.

CC      ?= cc
MODE    ?= release
ifeq ($(MODE),asan)
BUILD   ?= build/asan
OPT     := -O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
else ifeq ($(MODE),fuzz)
# libFuzzer builds (make fuzz): clang, coverage on every object, libFuzzer's main at the link.
CC      := clang
BUILD   ?= build/fuzz
OPT     := -O1 -g -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer \
           -fno-sanitize-recover=all
else
BUILD   ?= build
OPT     := -O2
endif

Q       := $(if $(V),,@)
GEN     := $(BUILD)/gen
OBJ     := $(BUILD)/obj
BIN     := $(BUILD)/bin

PKGS    := grpc libprotobuf-c jansson libmariadb openssl libcurl gnutls libmicrohttpd fuse3
CFLAGS_PKG := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
WARN    := -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter -Wstrict-prototypes \
           -Wmissing-prototypes -Wvla
CFLAGS  += -std=c11 -D_GNU_SOURCE -g -pthread $(OPT) $(WARN) -MMD -MP \
           -I$(GEN) $(COMMON_INC) $(CFLAGS_PKG)
LDFLAGS += -pthread $(OPT)
LDLIBS  := -lgrpc -lgpr -lprotobuf-c -ljansson -lmariadb -lssl -lcrypto -lisal -lcurl \
           -lmicrohttpd -lgnutls -lfuse3 -lm

COMMON_DIRS := $(sort $(dir $(wildcard common/*/*.[ch])))
COMMON_INC  := $(patsubst %/,-I%,$(COMMON_DIRS))
CLIENT_DIRS := client/ $(sort $(dir $(wildcard client/*/*.[ch])))
CLIENT_INC  := $(patsubst %/,-I%,$(CLIENT_DIRS))

PROTOS      := $(wildcard proto/*.proto)
PROTO_C     := $(patsubst proto/%.proto,$(GEN)/%.pb-c.c,$(PROTOS))
PROTO_H     := $(PROTO_C:.c=.h)
COMMON_SRC  := $(wildcard common/*/*.c)
COMMON_OBJ  := $(patsubst %.c,$(OBJ)/%.o,$(COMMON_SRC)) $(patsubst $(GEN)/%.c,$(OBJ)/gen/%.o,$(PROTO_C))
LIBJCS      := $(BUILD)/libjcs.a

SERVICES    := coordinator hub client ctl
BIN_NAME_coordinator := coordinator
BIN_NAME_hub         := hub
BIN_NAME_client      := jcs
BIN_NAME_ctl         := jcsctl
BINS := $(foreach s,$(SERVICES),$(BIN)/$(BIN_NAME_$(s)))

UNIT_SRC   := $(wildcard tests/unit/test_*.c)
INTEG_SRC  := $(wildcard tests/integration/test_*.c)
# tests/lib: the harness (t.h), fixtures and the cluster helper (itest.h).
TEST_HELPERS := $(wildcard tests/lib/*.c)
FUZZ_SRC   := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS  := $(patsubst tests/%.c,$(BUILD)/tests/%,$(FUZZ_SRC))
TEST_BINS  := $(patsubst tests/%.c,$(BUILD)/tests/%,$(UNIT_SRC) $(INTEG_SRC))
TEST_HELPER_OBJ := $(patsubst %.c,$(OBJ)/%.o,$(TEST_HELPERS))
# Benchmarks: tests/bench/bench_*.c, each a program of its own (no harness),
# linked with the test helpers other than the harness (certificates, clusters).
BENCH_SRC  := $(wildcard tests/bench/bench_*.c)
BENCH_BINS := $(patsubst tests/%.c,$(BUILD)/tests/%,$(BENCH_SRC))
# t_storage_conf registers tests with the harness: it is no bench helper either.
BENCH_HELPER_OBJ := $(filter-out $(OBJ)/tests/lib/harness.o $(OBJ)/tests/lib/t_storage_conf.o,$(TEST_HELPER_OBJ))
# The load generator (loadgen.c) is a user's client, not a benchmark of its own: only
# libcurl, run by tests/bench/load.sh (make bench) and tests/bench/peer.sh (make bench-peer).
LOADGEN := $(BUILD)/tests/bench/loadgen

.PHONY: fuzz fuzzers all deps deps-product deps-test test soak test-deploy tests benches run bench bench-peer clean format check-format clang
.SECONDARY:

all: $(BINS)

deps: deps-test

deps-product:
	@./deploy/deps.sh

deps-test:
	@./deploy/deps.sh --test

$(GEN)/%.pb-c.c $(GEN)/%.pb-c.h: proto/%.proto
	@mkdir -p $(GEN)
	$(Q)protoc-c --c_out=$(GEN) -Iproto $<

$(OBJ)/gen/%.o: $(GEN)/%.c
	@mkdir -p $(dir $@)
	@echo '  CC     $<'
	$(Q)$(CC) $(CFLAGS) -Wno-missing-prototypes -c -o $@ $<

$(OBJ)/client/%.o: CFLAGS += $(CLIENT_INC)
$(OBJ)/tests/%.o: CFLAGS += $(CLIENT_INC) -Itests/lib

$(OBJ)/%.o: %.c | $(PROTO_H)
	@mkdir -p $(dir $@)
	@echo '  CC     $<'
	$(Q)$(CC) $(CFLAGS) -c -o $@ $<

$(LIBJCS): $(COMMON_OBJ)
	@rm -f $@
	$(Q)ar rcs $@ $^

# A service's sources: its folder and its sub-folders (client/mount/).
define service_rule
$(1)_OBJ := $$(patsubst %.c,$$(OBJ)/%.o,$$(wildcard $(1)/*.c $(1)/*/*.c))
$$(BIN)/$$(BIN_NAME_$(1)): $$($(1)_OBJ) $$(LIBJCS)
	@mkdir -p $$(dir $$@)
	@echo '  LD     $$@'
	$$(Q)$$(CC) $$(LDFLAGS) -o $$@ $$($(1)_OBJ) $$(LIBJCS) $$(LDLIBS)
endef
$(foreach s,$(SERVICES),$(eval $(call service_rule,$(s))))

# The client's modules other than its main() also form a library, so tests
# and benches can link client code (metadata, planner, driver, ...).
LIBCLIENT     := $(BUILD)/libjcsclient.a
LIBCLIENT_OBJ := $(patsubst %.c,$(OBJ)/%.o,$(filter-out client/main.c,$(wildcard client/*.c client/*/*.c)))

$(LIBCLIENT): $(LIBCLIENT_OBJ)
	@rm -f $@
	$(Q)ar rcs $@ $^

$(BUILD)/tests/%: $(OBJ)/tests/%.o $(TEST_HELPER_OBJ) $(LIBCLIENT) $(LIBJCS)
	@mkdir -p $(dir $@)
	@echo '  LD     $@'
	$(Q)$(CC) $(LDFLAGS) -o $@ $< $(TEST_HELPER_OBJ) $(LIBCLIENT) $(LIBJCS) $(LDLIBS)

tests: $(BINS) $(TEST_BINS) $(BENCH_BINS) $(LOADGEN) $(FUZZ_BINS)

# Fuzz harnesses (tests/fuzz/fuzz_*.c), one per parser. In MODE=fuzz they link
# with clang's libFuzzer (make fuzz runs them); in every other build they link
# with tests/fuzz/replay.c, a main() that runs the harness once over each seed
# file, which is how tests/run replays tests/fuzz/corpus/<harness>/.
ifeq ($(MODE),fuzz)
FUZZ_MAIN :=
FUZZ_LINK := -fsanitize=fuzzer
else
FUZZ_MAIN := $(OBJ)/tests/fuzz/replay.o
FUZZ_LINK :=
endif

# The test helpers other than the harness: fuzz_config makes real certificates (testcerts.c).
$(BUILD)/tests/fuzz/%: $(OBJ)/tests/fuzz/%.o $(FUZZ_MAIN) $(BENCH_HELPER_OBJ) $(LIBCLIENT) $(LIBJCS)
	@mkdir -p $(dir $@)
	@echo '  LD     $@'
	$(Q)$(CC) $(LDFLAGS) $(FUZZ_LINK) -o $@ $< $(FUZZ_MAIN) $(BENCH_HELPER_OBJ) $(LIBCLIENT) \
	    $(LIBJCS) $(LDLIBS)

fuzzers: $(FUZZ_BINS)

# make fuzz: builds the harnesses with clang's libFuzzer (build/fuzz) and runs
# each for FUZZ_SECONDS over a copy of its seed corpus; prints the executions.
FUZZ_SECONDS ?= 60
fuzz: deps-test
	@$(MAKE) --no-print-directory -j$(JOBS) MODE=fuzz fuzzers
	@tests/fuzz/run build/fuzz $(FUZZ_SECONDS)

# `test`, `run` and `bench` install packages first and then build in a
# sub-make, so pkg-config flags are read after the packages exist (a fresh
# machine has none of them when this Makefile is first parsed).
JOBS ?= $(shell nproc 2>/dev/null || echo 2)

# The more specific pattern (shorter stem) wins over $(BUILD)/tests/% above.
$(BUILD)/tests/bench/%: $(OBJ)/tests/bench/%.o $(BENCH_HELPER_OBJ) $(LIBCLIENT) $(LIBJCS)
	@mkdir -p $(dir $@)
	@echo '  LD     $@'
	$(Q)$(CC) $(LDFLAGS) -o $@ $< $(BENCH_HELPER_OBJ) $(LIBCLIENT) $(LIBJCS) $(LDLIBS)

$(LOADGEN): $(OBJ)/tests/bench/loadgen.o
	@mkdir -p $(dir $@)
	@echo '  LD     $@'
	$(Q)$(CC) $(LDFLAGS) -o $@ $< -lcurl

benches: $(BENCH_BINS) $(LOADGEN)

# The test build is ASan+UBSan; tests/run prints the closing "N passed, N failed".
test: deps-test
	@$(MAKE) --no-print-directory -j$(JOBS) MODE=asan tests
	@tests/run build/asan

# The kill-point campaign at length (1,000 SIGKILLs under load; JCS_KILLPOINTS=N to change).
soak: deps-test
	@$(MAKE) --no-print-directory -j$(JOBS) MODE=asan tests
	@JCS_BIN=$(CURDIR)/build/asan/bin JCS_KILLPOINTS=$${JCS_KILLPOINTS:-1000} tests/faults/test_killpoints.py

# Docker's packages are a group of their own (deploy/deps.sh deploy): `make
# test` never needs a Docker engine, and a machine that only builds and tests
# gets none installed. The host runs jcsctl copied out of the image, so it
# needs the runtime libraries too.
test-deploy:
	@./deploy/deps.sh deploy runtime
	@tests/deploy/compose.sh

run: deps-product
	@$(MAKE) --no-print-directory -j$(JOBS) all
	@deploy/local/run

bench: deps-test
	@$(MAKE) --no-print-directory -j$(JOBS) all benches
	@tests/bench/run build; s=$$?; tests/bench/load.sh build && exit $$s

# The same user-side workloads against OpenStack Swift, in the same run, with the ratios.
SWIFT_PEER ?= /work/shared/peers/swift
bench-peer: deps-test
	@$(MAKE) --no-print-directory -j$(JOBS) all benches
	@tests/bench/peer.sh build $(SWIFT_PEER)

clang:
	@$(MAKE) --no-print-directory CC=clang BUILD=build/clang all tests

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

check-format:
	clang-format --dry-run -Werror $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
