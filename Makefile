# lx — LXMERT as Unix filters.  See README for the two set-up commands.
#
#   make              liblx.a and the tools in bin/
#   make check        every unit test (tests/unit/test_*.c) and shell test (tests/sh/*.sh),
#                     and each fuzz target over its stored inputs (tests/fuzz/)
#   make check-one T=NAME   only the tests whose file name contains NAME
#   make sanitize     the same tests under ASan + UBSan (build in build-san/)
#   make sanitize-clang  the same tests under clang's UBSan (build in build-san-clang/)
#   make fuzz         every fuzz target for FUZZ_SECONDS each (clang's libFuzzer, build-fuzz/)
#   make bench        speed and memory figures (bench/*.sh), printed, never asserted
#   make install PREFIX=/usr/local
#   make deps         install the Debian packages lx needs (root or sudo)
#
# Every lib/*.c goes into liblx.a and every cmd/lx-*.c becomes bin/lx-*, so adding a
# module or a tool never means editing this file.

PREFIX  ?= /usr/local
VERSION := 0.1.0
SANITIZE ?=

PKGS    := jansson libutf8proc zlib openblas libjpeg libpng yaml-0.1
CC      ?= cc
OPTFLAGS ?= -O2
CFLAGS  ?= $(OPTFLAGS) -g
CFLAGS  += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wno-unused-parameter -pthread
CFLAGS  += -DLX_VERSION='"$(VERSION)"'
CFLAGS  += $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS  += $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lm -pthread
# a tool that calls nothing of a library does not load it: OpenBLAS, linked into every
# tool, cost each one's start 3-5 ms (its threads and buffers) where only lx-encode and
# lx-vqa use it
LDFLAGS += -Wl,--as-needed

# float-cast-overflow: a float cast to an integer it does not fit is undefined, and gcc's
# -fsanitize=undefined leaves that check out
ifeq ($(SANITIZE),1)
BUILD   := build-san
CFLAGS  += -fsanitize=address,undefined,float-cast-overflow -fno-omit-frame-pointer -fno-sanitize-recover=undefined,float-cast-overflow
LDFLAGS += -fsanitize=address,undefined,float-cast-overflow
else ifeq ($(SANITIZE),clang)
# clang's UBSan has checks gcc's lacks: a float converted to an integer it does not fit
# (float-cast-overflow), an offset applied to a null pointer (pointer-overflow), division
# of floats by zero, bounds of local arrays
BUILD   := build-san-clang
CLANG_UB := -fsanitize=undefined,float-divide-by-zero,local-bounds
CFLAGS  += $(CLANG_UB) -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS += $(CLANG_UB)
else ifeq ($(SANITIZE),fuzz)
# libFuzzer's coverage in the library; the targets link its main (FUZZ_LINK)
BUILD   := build-fuzz
CFLAGS  += -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer \
           -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
FUZZ_LINK := -fsanitize=fuzzer
else
BUILD   := build
endif
BIN     := $(if $(SANITIZE),$(BUILD)/bin,bin)

# Every lib/*.c and lib/*/*.c goes into liblx.a; files ending in _avx512.c or _avx2.c
# (lib/nn/simd/) are compiled with the ISA flags their name asks for and chosen at run time.
LIB_ALL  := $(wildcard lib/*.c lib/*/*.c lib/*/*/*.c)
SIMD_SRC := $(filter %_avx512.c %_avx2.c,$(LIB_ALL))
LIB_SRC  := $(filter-out $(SIMD_SRC),$(LIB_ALL))
LIB_OBJ  := $(LIB_SRC:lib/%.c=$(BUILD)/lib/%.o)
SIMD_OBJ := $(SIMD_SRC:lib/%.c=$(BUILD)/lib/%.o)
LIB_HDR  := $(wildcard lib/*.h lib/*/*.h lib/*/*/*.h)
CLI_SRC := $(wildcard cmd/common/*.c)
CLI_OBJ := $(CLI_SRC:cmd/common/%.c=$(BUILD)/cmd/common/%.o)
TOOLS   := $(patsubst cmd/%.c,%,$(wildcard cmd/lx-*.c))
UNIT    := $(patsubst tests/unit/%.c,%,$(wildcard tests/unit/test_*.c))
TTOOLS  := $(patsubst tests/tools/%.c,%,$(wildcard tests/tools/*.c))
FUZZ    := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_HDR := $(wildcard tests/fuzz/*.h)
FUZZ_SECONDS ?= 60
LIBA    := $(BUILD)/liblx.a

.PHONY: all check check-one sanitize sanitize-clang fuzz fuzz-build fuzz-replay bench install \
        deps deps-fuzz demo clean
all: $(TOOLS:%=$(BIN)/%)

$(BUILD)/lib/%_avx512.o: lib/%_avx512.c $(LIB_HDR)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Ilib -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512bf16 -mfma -c $< -o $@

$(BUILD)/lib/%_avx2.o: lib/%_avx2.c $(LIB_HDR)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Ilib -mavx2 -mfma -mf16c -c $< -o $@

$(BUILD)/lib/%.o: lib/%.c $(LIB_HDR)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Ilib -c $< -o $@

$(LIBA): $(LIB_OBJ) $(SIMD_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/cmd/%.o: cmd/%.c lib/lx.h cmd/common/*.h
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Ilib -Icmd/common -c $< -o $@

$(BIN)/lx-%: $(BUILD)/cmd/lx-%.o $(CLI_OBJ) $(LIBA)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BUILD)/tests/%: tests/unit/%.c tests/unit/*.h $(LIB_HDR) $(LIBA)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Ilib -Itests/unit $< $(LIBA) $(LDFLAGS) $(LDLIBS) $(shell pkg-config --libs cmocka) -o $@

$(BUILD)/tools/%: tests/tools/%.c tests/tools/*.h $(LIB_HDR) $(LIBA)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Ilib $< $(LIBA) $(LDFLAGS) $(LDLIBS) -o $@

# Each fuzz target (tests/fuzz/fuzz_NAME.c) is also linked with replay.c into a plain
# program: the test fuzz/NAME runs it over the target's corpus and regression inputs.
$(BUILD)/fuzz/replay_%: tests/fuzz/fuzz_%.c tests/fuzz/replay.c $(FUZZ_HDR) $(LIB_HDR) $(LIBA)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Ilib -Itests/fuzz $< tests/fuzz/replay.c $(LIBA) $(LDFLAGS) $(LDLIBS) -o $@

# The libFuzzer binaries (make fuzz-build SANITIZE=fuzz CC=clang: see fuzz below).
$(BUILD)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_HDR) $(LIB_HDR) $(LIBA)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(FUZZ_LINK) -Ilib -Itests/fuzz $< $(LIBA) $(LDFLAGS) $(LDLIBS) -o $@

$(BUILD)/fuzz/mkseeds: tests/fuzz/mkseeds.c $(FUZZ_HDR) $(LIB_HDR) $(LIBA)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Ilib $< $(LIBA) $(LDFLAGS) $(LDLIBS) -o $@

TEST_DEPS = all $(UNIT:%=$(BUILD)/tests/%) $(TTOOLS:%=$(BUILD)/tools/%) $(FUZZ:%=$(BUILD)/fuzz/replay_%)

check: $(TEST_DEPS)
	@LX_SANITIZE=$(SANITIZE) LX_BIN=$(abspath $(BIN)) LX_BUILD=$(abspath $(BUILD)) ./tests/run-tests

check-one: $(TEST_DEPS)
	@LX_SANITIZE=$(SANITIZE) LX_BIN=$(abspath $(BIN)) LX_BUILD=$(abspath $(BUILD)) ./tests/run-tests $(T)

sanitize:
	$(MAKE) SANITIZE=1 OPTFLAGS=-O1 check

sanitize-clang:
	$(MAKE) SANITIZE=clang CC=clang OPTFLAGS=-O1 check

# Fuzzing needs clang with its runtimes (make deps-fuzz).  fuzz runs every target (or
# those whose name contains T) for FUZZ_SECONDS, growing build-fuzz/corpus/NAME from the
# seeds; a finding stops its target and is left in build-fuzz/findings/NAME/.
# fuzz-replay runs the libFuzzer binaries once over every corpus and regression input.
fuzz-build:
	$(MAKE) SANITIZE=fuzz CC=clang OPTFLAGS=-O1 $(FUZZ:%=build-fuzz/fuzz/fuzz_%)

fuzz: fuzz-build
	@FUZZ_SECONDS=$(FUZZ_SECONDS) ./tests/fuzz/run-fuzz build-fuzz $(T)

fuzz-replay: fuzz-build
	@./tests/fuzz/run-fuzz --replay build-fuzz $(T)

bench: all $(TTOOLS:%=$(BUILD)/tools/%)
	@LX_BIN=$(abspath $(BIN)) LX_BUILD=$(abspath $(BUILD)) ./bench/run-bench $(B)

demo: all
	@LX_BIN=$(abspath $(BIN)) ./scripts/demo

deps:
	./scripts/install-deps

deps-fuzz:
	./scripts/install-deps --fuzz

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/include \
	    $(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/share/man/man5 $(DESTDIR)$(PREFIX)/share/man/man7
	install -m 755 $(TOOLS:%=$(BIN)/%) $(DESTDIR)$(PREFIX)/bin/
	install -m 644 $(LIBA) $(DESTDIR)$(PREFIX)/lib/
	install -m 644 lib/lx.h $(DESTDIR)$(PREFIX)/include/
	for s in $(sort $(subst .,,$(suffix $(wildcard man/*.[1-9])))); do \
	    install -d $(DESTDIR)$(PREFIX)/share/man/man$$s && \
	    install -m 644 man/*.$$s $(DESTDIR)$(PREFIX)/share/man/man$$s/ || exit; \
	done
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' lx.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/lx.pc

clean:
	rm -rf build build-san build-san-clang build-fuzz bin

# make help: every target and the variables it reads.  Keep it in step with the targets
# above when adding one.
.PHONY: help
help:
	@echo 'Usage: make [TARGET]... [VARIABLE=VALUE]...'
	@echo
	@echo 'Targets:'
	@echo '  all             (the default) build/liblx.a and the tools in bin/'
	@echo '  check           build, then run every unit test, shell test and fuzz target'
	@echo '                  over its stored inputs (tests/fuzz/)'
	@echo '  check-one T=NAME  only the tests whose file name contains NAME'
	@echo '  sanitize        the tests under ASan + UBSan, built in build-san/ with -O1'
	@echo '  sanitize-clang  the tests under clang'"'"'s UBSan (the checks gcc lacks: float'
	@echo '                  to integer overflow, offsets on null pointers...), built in'
	@echo '                  build-san-clang/'
	@echo '  fuzz [T=NAME]   run each fuzz target (tests/fuzz/fuzz_*.c, or those whose name'
	@echo '                  contains NAME) for FUZZ_SECONDS with clang'"'"'s libFuzzer, built'
	@echo '                  in build-fuzz/; findings go to build-fuzz/findings/NAME/'
	@echo '  fuzz-replay     run the libFuzzer builds once over every corpus and'
	@echo '                  regression input (tests/fuzz/corpus/, tests/fuzz/regress/)'
	@echo '  bench [B=NAME]  print speed and memory figures (bench/*.sh, or those whose'
	@echo '                  name contains NAME); asserts nothing'
	@echo '  demo            every stage of lx on small generated models and pictures,'
	@echo '                  in demo-out/: the answers (answers.jsonl) and lx-show'"'"'s page'
	@echo '                  of them (report.html)'
	@echo '  install         the tools, liblx.a, lx.h, lx.pc and the man pages under'
	@echo '                  $$(DESTDIR)$$(PREFIX)'
	@echo '  deps            install the Debian packages lx builds and tests with (root'
	@echo '                  or sudo)'
	@echo '  deps-fuzz       also clang and its sanitizer and libFuzzer runtimes'
	@echo '  clean           remove build/, build-san/, build-san-clang/, build-fuzz/ and'
	@echo '                  bin/'
	@echo '  help            this list'
	@echo
	@echo 'Variables (on the command line or in the environment):'
	@echo '  CC              the C compiler (default cc)'
	@echo '  OPTFLAGS        optimisation flags (default -O2)'
	@echo '  CFLAGS          compiler flags, from the environment (default $$(OPTFLAGS) -g);'
	@echo '                  lx adds the flags it needs.  On the command line CFLAGS'
	@echo '                  replaces those too: set OPTFLAGS there instead'
	@echo '  LDFLAGS, LDLIBS extra linker flags and libraries, from the environment'
	@echo '  SANITIZE=1      build with ASan + UBSan into build-san/ (what sanitize does);'
	@echo '                  clang: with CC=clang, UBSan into build-san-clang/'
	@echo '  T=NAME          check-one: the tests to run; fuzz, fuzz-replay: the targets'
	@echo '  B=NAME          bench: the benchmarks to run'
	@echo '  FUZZ_SECONDS    fuzz: seconds per target (default 60)'
	@echo '  PREFIX          install: where to install (default /usr/local)'
	@echo '  DESTDIR         install: a staging root prepended to PREFIX (for packages)'
	@echo '  LX_FIXTURES     check, bench: the reference fixtures (default'
	@echo '                  ../shared/fixtures)'
	@echo '  LX_CPU          check: the most of the CPU the tools may use (portable,'
	@echo '                  avx2, avx512, best), to test one path'
	@echo '  LX_BENCH_ROUNDS bench: rounds per figure, the median is printed (default 5)'
	@echo '  LX_BENCH_DIR    bench: scratch directory (default a new /tmp/lx-bench.*)'
	@echo '  LX_BENCH_KEEP   bench: set to keep the scratch directory'
	@echo '  LX_BENCH_PYTHON bench: the Python with torch for the PyTorch baseline'
	@echo '                  (default /usr/bin/python3)'
	@echo '  LX_BENCH_ORT_DIR bench: where onnxruntime-node is installed for the ONNX'
	@echo '                  Runtime peer (default ~/.cache/lx-bench/ort; not in deps)'
	@echo '  LX_BENCH_ENCODE_R32, LX_BENCH_ENCODE_R1, LX_BENCH_EMBED_IMAGES,'
	@echo '  LX_BENCH_GEMM_TIME, LX_BENCH_STREAM_REPS, LX_BENCH_TOKENIZE_N'
	@echo '                  bench: the sizes of single benchmarks (see bench/*.sh)'
	@echo '  LX_DEMO_DIR     demo: where its files go (default demo-out)'
