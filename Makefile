# lx — LXMERT as Unix filters.  See README for the two set-up commands.
#
#   make              liblx.a and the five tools in bin/
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

PKGS    := jansson libutf8proc zlib openblas
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

ifeq ($(SANITIZE),1)
BUILD   := build-san
CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
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
	for s in 1 5 7; do for f in man/*.$$s; do [ -e "$$f" ] && install -m 644 $$f $(DESTDIR)$(PREFIX)/share/man/man$$s/; done; done; true
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' lx.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/lx.pc

clean:
	rm -rf build build-san bin
