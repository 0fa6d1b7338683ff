# tlbsim - cycle-approximate x86 MMU/TLB simulator.  One flat Makefile.
#
#   make            build build/tlbsim and build/tlbviz
#   make run        install missing packages, build, run the default trace
#   make test       install missing packages, build, run the Criterion suite
#   make asan|ubsan the test suite under a sanitizer
#   make bench      benchmarks (release build), never part of `make test`
#   make plots      gnuplot figures from out/ (skipped without gnuplot)

# == settings (override on the command line) ===================================
CC        ?= cc
OPT       ?= -O2
BUILD     ?= build
SANITIZER ?=
WARN       = -Wall -Wextra -Wshadow -Wundef -Wwrite-strings -Wstrict-prototypes \
             -Wmissing-prototypes -Wno-unused-parameter
CPPFLAGS  += -D_GNU_SOURCE
CFLAGS    += -std=c11 $(OPT) -g $(WARN) -MMD -MP
ifneq ($(SANITIZER),)
CFLAGS    += -fsanitize=$(SANITIZER) -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS   += -fsanitize=$(SANITIZER)
endif
DEFAULT_TRACE ?= traces/default.jsonl
# == end of settings ===========================================================

PKG_CJSON  = $(shell pkg-config --cflags --libs libcjson 2>/dev/null || echo -lcjson)
CJSON_CFLAGS = $(shell pkg-config --cflags libcjson 2>/dev/null)
CJSON_LIBS   = $(shell pkg-config --libs libcjson 2>/dev/null || echo -lcjson)
SDL_CFLAGS   = $(shell pkg-config --cflags sdl2 2>/dev/null)
SDL_LIBS     = $(shell pkg-config --libs sdl2 2>/dev/null || echo -lSDL2)
CRIT_CFLAGS  = $(shell pkg-config --cflags criterion 2>/dev/null)
CRIT_LIBS    = $(shell pkg-config --libs criterion 2>/dev/null || echo -lcriterion)

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

.PHONY: all run test deps asan ubsan bench bench-smoke plots report fuzz clean
all: $(BUILD)/tlbsim $(BUILD)/tlbviz

$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(CJSON_CFLAGS) -c -o $@ $<

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
	$(CC) $(LDFLAGS) -o $@ $^ $(CJSON_LIBS) -lm -lpthread

$(BUILD)/tlbviz: $(VIZ_OBJ) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(SDL_LIBS) $(CJSON_LIBS) -lm

# The tests link the pure rendering part of the visualizer (no SDL calls).
$(BUILD)/run-tests: $(TEST_OBJ) $(VIZ_LIB_OBJ) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(CRIT_LIBS) $(CJSON_LIBS) -lm

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

# Benchmarks: release build into build-rel/, inputs generated deterministically.
bench:
	$(MAKE) --no-print-directory BUILD=build-rel OPT="-O3 -march=x86-64-v2" all
	./bench/run.sh build-rel

# Seconds-long version for CI: checks the benchmark runs, not its speed.
bench-smoke: all
	./bench/run.sh $(BUILD) --smoke

# Figures from out/ (or PLOT_IN=dir); skipped with a message without gnuplot.
plots:
	./plots/make-plots.sh $(or $(PLOT_IN),out) $(or $(PLOT_OUT),out/plots)

# Every policy on the default trace, figures and a Markdown report in out/compare.
report: all
	./$(BUILD)/tlbsim run $(DEFAULT_TRACE) --policy all --out out/compare
	./plots/make-plots.sh out/compare out/compare/plots
	./$(BUILD)/tlbsim report out/compare

# Fuzz every input parser for FUZZ_SECONDS each (clang + libFuzzer).
fuzz:
	./tests/fuzz/run.sh $(or $(FUZZ_SECONDS),60)

clean:
	rm -rf build build-asan build-ubsan build-rel build-fuzz out

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(VIZ_OBJ:.o=.d) $(TEST_OBJ:.o=.d)
