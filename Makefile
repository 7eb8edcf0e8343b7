# lx — LXMERT as Unix filters.  See README for the two set-up commands.
#
#   make              liblx.a and the tools in bin/
#   make check        every unit test (tests/unit/test_*.c) and shell test (tests/sh/*.sh)
#   make check-one T=NAME   only the tests whose file name contains NAME
#   make sanitize     the same tests under ASan + UBSan (build in build-san/)
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
LIBA    := $(BUILD)/liblx.a

.PHONY: all check check-one sanitize bench install deps demo clean
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

TEST_DEPS = all $(UNIT:%=$(BUILD)/tests/%) $(TTOOLS:%=$(BUILD)/tools/%)

check: $(TEST_DEPS)
	@LX_SANITIZE=$(SANITIZE) LX_BIN=$(abspath $(BIN)) LX_BUILD=$(abspath $(BUILD)) ./tests/run-tests

check-one: $(TEST_DEPS)
	@LX_SANITIZE=$(SANITIZE) LX_BIN=$(abspath $(BIN)) LX_BUILD=$(abspath $(BUILD)) ./tests/run-tests $(T)

sanitize:
	$(MAKE) SANITIZE=1 OPTFLAGS=-O1 check

bench: all $(TTOOLS:%=$(BUILD)/tools/%)
	@LX_BIN=$(abspath $(BIN)) LX_BUILD=$(abspath $(BUILD)) ./bench/run-bench $(B)

demo: all
	@LX_BIN=$(abspath $(BIN)) ./scripts/demo

deps:
	./scripts/install-deps

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
	rm -rf build build-san bin

# make help: every target and the variables it reads.  Keep it in step with the targets
# above when adding one.
.PHONY: help
help:
	@echo 'Usage: make [TARGET]... [VARIABLE=VALUE]...'
	@echo
	@echo 'Targets:'
	@echo '  all             (the default) build/liblx.a and the tools in bin/'
	@echo '  check           build, then run every unit test and shell test'
	@echo '  check-one T=NAME  only the tests whose file name contains NAME'
	@echo '  sanitize        the tests under ASan + UBSan, built in build-san/ with -O1'
	@echo '  bench [B=NAME]  print speed and memory figures (bench/*.sh, or those whose'
	@echo '                  name contains NAME); asserts nothing'
	@echo '  demo            every stage of lx on small generated models and pictures'
	@echo '                  (in demo-out/)'
	@echo '  install         the tools, liblx.a, lx.h, lx.pc and the man pages under'
	@echo '                  $$(DESTDIR)$$(PREFIX)'
	@echo '  deps            install the Debian packages lx builds and tests with (root'
	@echo '                  or sudo)'
	@echo '  clean           remove build/, build-san/ and bin/'
	@echo '  help            this list'
	@echo
	@echo 'Variables (on the command line or in the environment):'
	@echo '  CC              the C compiler (default cc)'
	@echo '  OPTFLAGS        optimisation flags (default -O2)'
	@echo '  CFLAGS          compiler flags, from the environment (default $$(OPTFLAGS) -g);'
	@echo '                  lx adds the flags it needs.  On the command line CFLAGS'
	@echo '                  replaces those too: set OPTFLAGS there instead'
	@echo '  LDFLAGS, LDLIBS extra linker flags and libraries, from the environment'
	@echo '  SANITIZE=1      build with ASan + UBSan into build-san/ (what sanitize does)'
	@echo '  T=NAME          check-one: the tests to run'
	@echo '  B=NAME          bench: the benchmarks to run'
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
	@echo '  LX_BENCH_ENCODE_R32, LX_BENCH_ENCODE_R1, LX_BENCH_EMBED_IMAGES,'
	@echo '  LX_BENCH_GEMM_TIME, LX_BENCH_STREAM_REPS, LX_BENCH_TOKENIZE_N'
	@echo '                  bench: the sizes of single benchmarks (see bench/*.sh)'
	@echo '  LX_DEMO_DIR     demo: where its files go (default demo-out)'
