# tlbsim - cycle-approximate x86 MMU/TLB simulator.  One flat Makefile.
#
#   make            build build/tlbsim and build/tlbviz
#   make run        install missing packages, build, run the default trace
#   make test       install missing packages, build, run the Criterion suite
#   make asan|ubsan the test suite under a sanitizer
#   make bench      benchmarks (release build), never part of `make test`
#   make bench-peers  the same address stream through Dinero IV and ChampSim, if installed
#   make plots      gnuplot figures from out/ (skipped without gnuplot)

# == settings (override on the command line) ===================================
CC        ?= cc
OPT       ?= -O2
BUILD     ?= build
SANITIZER ?=
WARN       = -Wall -Wextra -Wshadow -Wundef -Wwrite-strings -Wstrict-prototypes \
             -Wmissing-prototypes -Wno-unused-parameter
CPPFLAGS  += -D_GNU_SOURCE
CFLAGS    += -std=c11 $(OPT) -g $(WARN) -MMD -MP $(FUZZ_CFLAGS)
ifneq ($(SANITIZER),)
CFLAGS    += -fsanitize=$(SANITIZER) -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS   += -fsanitize=$(SANITIZER)
endif
DEFAULT_TRACE ?= traces/default.jsonl
# == end of settings ===========================================================

CJSON_CFLAGS = $(shell pkg-config --cflags libcjson 2>/dev/null)
CJSON_LIBS   = $(shell pkg-config --libs libcjson 2>/dev/null || echo -lcjson)
SDL_CFLAGS   = $(shell pkg-config --cflags sdl2 2>/dev/null)
SDL_LIBS     = $(shell pkg-config --libs sdl2 2>/dev/null || echo -lSDL2)
CRIT_CFLAGS  = $(shell pkg-config --cflags criterion 2>/dev/null)
CRIT_LIBS    = $(shell pkg-config --libs criterion 2>/dev/null || echo -lcriterion)
# gzip, xz and zstd streams (sim/io/stream.c)
COMP_CFLAGS  = $(shell pkg-config --cflags zlib liblzma libzstd 2>/dev/null)
COMP_LIBS    = $(shell pkg-config --libs zlib liblzma libzstd 2>/dev/null || echo -lz -llzma -lzstd)

# Version: `git describe` when built from a checkout, else VERSION_FALLBACK.
# $(BUILD)/tlbsim_version.h is rewritten only when the text changes.
VERSION_FALLBACK = 1.0-nogit
VERSION := $(or $(shell git describe --always --dirty 2>/dev/null),$(VERSION_FALLBACK))

MODEL_SRC  = $(wildcard models/*.c)
ENGINE_SRC = $(wildcard sim/engine/*.c)
IO_SRC     = $(wildcard sim/io/*.c)
WL_SRC     = $(wildcard workloads/*.c)
LIB_SRC    = $(MODEL_SRC) $(ENGINE_SRC) $(IO_SRC) $(WL_SRC)
CLI_SRC    = $(wildcard sim/cli/*.c)
VIZ_SRC    = $(wildcard sim/viz/*.c)
TEST_SRC   = $(wildcard tests/*.c tests/ref/*.c)

VIZ_LIB_SRC = $(filter-out sim/viz/viz_main.c,$(VIZ_SRC))
LIB_OBJ  = $(LIB_SRC:%.c=$(BUILD)/%.o)
VIZ_LIB_OBJ = $(VIZ_LIB_SRC:%.c=$(BUILD)/%.o)
CLI_OBJ  = $(CLI_SRC:%.c=$(BUILD)/%.o)
VIZ_OBJ  = $(VIZ_SRC:%.c=$(BUILD)/%.o)
TEST_OBJ = $(TEST_SRC:%.c=$(BUILD)/%.o)
LIB      = $(BUILD)/libtlbsim.a

.PHONY: all run test deps asan ubsan bench bench-smoke bench-peers bench-tools plots report fuzz fuzz-ci memcheck fuzz-bins fuzz-bins-here clean FORCE
all: $(BUILD)/tlbsim $(BUILD)/tlbviz

$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(CJSON_CFLAGS) $(COMP_CFLAGS) -c -o $@ $<

$(BUILD)/tlbsim_version.h: FORCE
	@mkdir -p $(@D)
	@echo '#define TLBSIM_VERSION "$(VERSION)"' >$@.new
	@cmp -s $@.new $@ && rm -f $@.new || mv -f $@.new $@

$(BUILD)/sim/io/version.o: $(BUILD)/tlbsim_version.h
$(BUILD)/sim/io/version.o: CPPFLAGS += -I$(BUILD)

$(BUILD)/sim/viz/%.o: sim/viz/%.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(SDL_CFLAGS) -c -o $@ $<

$(BUILD)/tests/%.o: tests/%.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(CRIT_CFLAGS) -c -o $@ $<

$(LIB): $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/tlbsim: $(CLI_OBJ) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(CJSON_LIBS) $(COMP_LIBS) -lm

$(BUILD)/tlbviz: $(VIZ_OBJ) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(SDL_LIBS) $(CJSON_LIBS) $(COMP_LIBS) -lm

# The tests link the pure rendering part of the visualizer (no SDL calls)
# and the statistics, the job pool and the calibration fitter of the front end.
CLI_TEST_OBJ = $(BUILD)/sim/cli/stats.o $(BUILD)/sim/cli/table.o $(BUILD)/sim/cli/jobs.o \
               $(BUILD)/sim/cli/calib.o
$(BUILD)/run-tests: $(TEST_OBJ) $(VIZ_LIB_OBJ) $(CLI_TEST_OBJ) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(CRIT_LIBS) $(CJSON_LIBS) $(COMP_LIBS) -lm

deps:
	@./scripts/deps.sh

run: deps
	@$(MAKE) --no-print-directory all
	./$(BUILD)/tlbsim run $(DEFAULT_TRACE) --out out

test: deps
	@$(MAKE) --no-print-directory $(BUILD)/run-tests $(BUILD)/tlbsim $(BUILD)/tlbviz
	cd tests && TLBSIM=../$(BUILD)/tlbsim TLBVIZ=../$(BUILD)/tlbviz ../$(BUILD)/run-tests --jobs 2

asan:
	$(MAKE) BUILD=build-asan SANITIZER=address,undefined OPT=-O1 test

ubsan:
	$(MAKE) BUILD=build-ubsan SANITIZER=undefined OPT=-O1 test

# Benchmarks: release build into build-rel/, inputs generated deterministically;
# the plain build ($(BUILD)/, what `make` builds) is compared with it.
# The helpers (input generator, rusage wrapper, host ceiling) are built here
# with the same flags as everything else; bench/run.sh only runs them.
BENCH_TOOLS = $(BUILD)/bench/gen $(BUILD)/bench/runstat $(BUILD)/bench/ceiling
bench-tools: $(BENCH_TOOLS)

$(BUILD)/bench/gen: bench/gen.c $(LIB)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(CJSON_CFLAGS) $(LDFLAGS) -o $@ $< $(LIB) $(CJSON_LIBS) $(COMP_LIBS) -lm

$(BUILD)/bench/runstat: bench/runstat.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $<

# The ceiling is the host's best case: always optimised for x86-64-v2.
$(BUILD)/bench/ceiling: bench/ceiling.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -O3 -march=x86-64-v2 $(LDFLAGS) -o $@ $<

bench: all
	$(MAKE) --no-print-directory BUILD=build-rel OPT="-O3 -march=x86-64-v2" all bench-tools
	./bench/run.sh build-rel --plain $(BUILD)

# The peers table of docs/performance.md (Dinero IV, ChampSim; skips a peer
# that is not installed, with a message).
bench-peers: all bench-tools
	./bench/peers.sh $(BUILD)

# Seconds-long version for CI: checks the benchmark runs, not its speed.
bench-smoke: all bench-tools
	./bench/run.sh $(BUILD) --smoke

# Figures from out/ (or PLOT_IN=dir); skipped with a message without gnuplot.
# PAPER=1 adds the paper-size set (PDF and PNG, 3.3 in wide) in PLOT_OUT/paper.
plots:
	./plots/make-plots.sh $(or $(PLOT_IN),out) $(or $(PLOT_OUT),out/plots)
	$(if $(PAPER),./plots/make-plots.sh --paper $(or $(PLOT_IN),out) $(or $(PLOT_OUT),out/plots)/paper)

# Every policy on the default trace, figures and a Markdown report in out/compare.
report: all
	./$(BUILD)/tlbsim run $(DEFAULT_TRACE) --policy all --out out/compare
	./plots/make-plots.sh out/compare out/compare/plots
	./$(BUILD)/tlbsim report out/compare

# Fuzz every input parser for FUZZ_SECONDS each (clang + libFuzzer).  The
# harnesses are built here (fuzz-bins, into build-fuzz/ with clang and the
# same WARN list); tests/fuzz/run.sh builds them through this target, then
# runs them.
FUZZ_BUILD  ?= build-fuzz
CLANG       ?= clang
FUZZ_TARGETS = trace_jsonl trace_bin import_ftrace import_lackey import_lackey_sys import_champsim \
               model set wlspec sim stream meas
FUZZ_SAN     = address,undefined
FUZZ_BINS    = $(FUZZ_TARGETS:%=$(BUILD)/fuzz/fuzz_%)
# A second JSONL reader with the canonical-line fast path off, its external
# names prefixed with slow_, so fuzz_trace_jsonl compares the two paths.
FUZZ_SLOW_SRC = sim/io/trace.c sim/io/trace_json.c
FUZZ_SLOW_OBJ = $(FUZZ_SLOW_SRC:sim/io/%.c=$(BUILD)/fuzz/slow_%.o)

fuzz:
	./tests/fuzz/run.sh $(or $(FUZZ_SECONDS),60)

# CI: every harness replays its regression corpus and seeds, then runs a
# fixed number of executions (seconds in total; .ci/run).
fuzz-ci:
	FUZZ_RUNS=$(or $(FUZZ_RUNS),3000) ./tests/fuzz/run.sh

# valgrind memcheck over one run of every subcommand (a couple of minutes).
memcheck: all
	./tests/memcheck.sh $(BUILD)

fuzz-bins:
	@command -v $(CLANG) >/dev/null || { echo "fuzz: clang not found; install it with: apt-get install -y clang libclang-rt-14-dev" >&2; exit 1; }
	$(MAKE) --no-print-directory BUILD=$(FUZZ_BUILD) CC=$(CLANG) OPT=-O1 SANITIZER=$(FUZZ_SAN) \
	    FUZZ_CFLAGS=-fsanitize=fuzzer-no-link fuzz-bins-here

fuzz-bins-here: $(FUZZ_BINS)

$(BUILD)/fuzz/slow_names.h: $(FUZZ_SLOW_SRC:%.c=$(BUILD)/%.o)
	@mkdir -p $(@D)
	nm --defined-only -g $^ | awk 'NF == 3 && $$3 !~ /^__/ { print "#define " $$3 " slow_" $$3 }' >$@

$(BUILD)/fuzz/slow_%.o: sim/io/%.c $(BUILD)/fuzz/slow_names.h
	$(CC) $(CPPFLAGS) $(CFLAGS) $(CJSON_CFLAGS) -DTRACE_JSON_FAST=0 \
	    -include $(BUILD)/fuzz/slow_names.h -c -o $@ $<

# $(filter): the -MMD file of an earlier build adds the headers to $^.
$(BUILD)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(BUILD)/tests/fuzz/fuzz_common.o $(FUZZ_SLOW_OBJ) $(LIB)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(CJSON_CFLAGS) -fsanitize=fuzzer $(LDFLAGS) -o $@ \
	    $(filter %.c %.o %.a,$^) \
	    $(CJSON_LIBS) $(COMP_LIBS) -lm

clean:
	rm -rf build build-asan build-ubsan build-rel build-fuzz out

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(VIZ_OBJ:.o=.d) $(TEST_OBJ:.o=.d) \
         $(wildcard $(BUILD)/fuzz/*.d $(BUILD)/bench/*.d $(BUILD)/tests/fuzz/*.d)
