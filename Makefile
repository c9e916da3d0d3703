# Clearway build.
#
# `make` builds every program into build/; `make test` installs what is missing (scripts/setup.sh),
# builds, and runs unit tests (plain and ASan+UBSan) and integration tests; `make demo` runs the
# gateway on a generated workload. One directory per layer, each a static library:
#
#   dataplane/wire  CWP/1 codec, frames, pcap    (no DPDK)   -> build/libcwwire.a
#   rules           rule compiler, tables, decision, stores  -> build/libcwrules.a
#   control         Redis sync, telemetry, cwctl commands    -> build/libcwcontrol.a
#   dataplane       the packet path and main of `clearway`
#   bench           cwgen, kernel baseline, benchmark drivers
#
#   dataplane/xdp   the XDP steering program for net_af_xdp  -> build/cw_steer.bpf.o
#
# Knobs: BUILD=dir, SAN=1 (ASan+UBSan), MARCH=... (default x86-64-v2; DPDK's own libraries pick
# AVX2 paths at run time), FUZZ_SECONDS=N for `make fuzz`, XDP_PORT=N (the UDP port the XDP
# program steers to the gateway, default 7350).

BUILD   ?= build
MARCH   ?= x86-64-v2
SAN     ?= 0
FUZZ_SECONDS ?= 60
XDP_PORT ?= 7350

CC      ?= cc
PKGS    := libdpdk hiredis libbpf libpcap
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CHECK_LIBS := $(shell pkg-config --libs check 2>/dev/null)

WARN    := -Wall -Wextra -Werror -Wno-missing-field-initializers
CFLAGS  ?= -O2 -g
CFLAGS  += -std=gnu11 $(WARN) $(PKG_CFLAGS) -march=$(MARCH) -I. -MMD -MP -D_GNU_SOURCE
LDLIBS  := $(PKG_LIBS) -lrte_net_ring -lrte_net_pcap -lm -lpthread

ifeq ($(SAN),1)
CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
endif

wire_src    := $(wildcard dataplane/wire/*.c)
rules_src   := $(wildcard rules/*.c)
control_src := $(filter-out control/cwctl.c,$(wildcard control/*.c))
gw_src      := $(wildcard dataplane/*.c)
cwgen_src   := $(wildcard bench/cwgen/*.c)
kbase_src   := $(wildcard bench/kbase/*.c)
unit_src    := $(wildcard tests/unit/test_*.c)
tool_src    := $(wildcard tests/tools/*.c)
fuzz_src    := $(wildcard tests/fuzz/fuzz_*.c)

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))

LIB_WIRE    := $(BUILD)/libcwwire.a
LIB_RULES   := $(BUILD)/libcwrules.a
LIB_CONTROL := $(BUILD)/libcwcontrol.a
LIBS        := $(LIB_CONTROL) $(LIB_RULES) $(LIB_WIRE)

PROGS := $(BUILD)/cwctl
ifneq ($(cwgen_src),)
PROGS += $(BUILD)/cwgen
endif
ifneq ($(gw_src),)
PROGS += $(BUILD)/clearway
endif
ifneq ($(kbase_src),)
PROGS += $(BUILD)/cwkbase
endif
PROGS += $(BUILD)/cw_steer.bpf.o
UNIT_TESTS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(unit_src))
TEST_TOOLS := $(patsubst tests/tools/%.c,$(BUILD)/tests/tools/%,$(tool_src))

.PHONY: FORCE all test unit integration asan fuzz fuzz-build bench demo clean format setup
all: $(PROGS) $(UNIT_TESTS) $(TEST_TOOLS)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(LIB_WIRE): $(call obj,$(wire_src))
$(LIB_RULES): $(call obj,$(rules_src))
$(LIB_CONTROL): $(call obj,$(control_src))
$(BUILD)/%.a:
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/clearway: $(call obj,$(gw_src)) $(LIBS)
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS)
$(BUILD)/cwctl: $(call obj,control/cwctl.c) $(LIBS)
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS)
$(BUILD)/cwgen: $(call obj,$(cwgen_src)) $(LIBS)
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS)
$(BUILD)/cwkbase: $(call obj,$(kbase_src)) $(LIBS)
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS)
$(BUILD)/tests/%: $(call obj,tests/unit/%.c) $(call obj,tests/unit/testutil.c) $(LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS) $(CHECK_LIBS)

$(BUILD)/tests/tools/%: $(call obj,tests/tools/%.c) $(LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS)

# The XDP program (BPF bytecode, loaded by net_af_xdp's xdp_prog=). <linux/bpf.h> and friends come
# from linux-libc-dev, whose <asm/...> headers live in the multiarch directory that a BPF target
# does not search by itself. The port is baked in; the stamp file rebuilds it when XDP_PORT changes.
MULTIARCH  := $(shell gcc -print-multiarch 2>/dev/null)
BPF_CFLAGS := -O2 -g -target bpf -Wall -Wextra -Werror $(if $(MULTIARCH),-I/usr/include/$(MULTIARCH))
$(BUILD)/obj/xdp-port: FORCE
	@mkdir -p $(dir $@)
	@[ "$$(cat $@ 2>/dev/null)" = "$(XDP_PORT)" ] || echo "$(XDP_PORT)" >$@
$(BUILD)/cw_steer.bpf.o: dataplane/xdp/cw_steer.bpf.c $(BUILD)/obj/xdp-port
	clang $(BPF_CFLAGS) -DCW_UDP_PORT=$(XDP_PORT) -c $< -o $@
FORCE:

setup:
	@bash scripts/setup.sh

# Unit tests run without forking (DESIGN §9: one EAL per binary); each prints Check's summary.
unit: $(UNIT_TESTS)
	@bash tests/run-unit.sh $(BUILD) $(UNIT_TESTS)

integration: all
	@for s in tests/integration/*.sh; do echo "== $$s"; bash $$s || exit 1; done

asan:
	@$(MAKE) --no-print-directory BUILD=build-asan SAN=1 all

test: setup
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory asan
	@bash tests/run-all.sh

# libFuzzer targets: clang, ASan+UBSan, each run for FUZZ_SECONDS from a seed corpus made by cwgen.
FUZZ_BINS := $(patsubst tests/fuzz/%.c,build-fuzz/%,$(fuzz_src))
fuzz-build: $(FUZZ_BINS)
build-fuzz/%: tests/fuzz/%.c $(wire_src) $(filter rules/parse.c rules/lexer.c,$(rules_src))
	@mkdir -p $(dir $@)
	clang -std=gnu11 -g -O1 -march=$(MARCH) -I. -D_GNU_SOURCE $(shell pkg-config --cflags libpcap) \
		-fsanitize=fuzzer,address,undefined $^ -o $@ $(shell pkg-config --libs libpcap) -lm
fuzz: setup all fuzz-build
	@bash tests/fuzz/run.sh $(FUZZ_SECONDS)

bench: setup all
	@bash bench/run.sh

demo: setup all
	@bash scripts/demo.sh

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build build-asan build-fuzz

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
