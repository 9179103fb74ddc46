# tokenauth -- log in once over HTTP, get a token, open authenticated WebSockets with it.
#
# Targets people type:
#   make            build build/login-fcgi, build/ws-worker and build/tokenauth.so; installs
#                   nothing: a missing library is an error naming the Debian packages to install
#   make deps       install the missing Debian packages of the build (scripts/install-deps.sh)
#   make test       install what is missing, then build (normal + ASan/UBSan), then run every test
#   make unit       the unit tests only (one file: build/unit-tests db runs tests/unit/test_db.c)
#   make run        install what is missing, build, then the demo: lighttpd on 127.0.0.1:$(PORT)
#   make bench      the benchmarks of bench/ (figures go to docs/bench-results.md)
#   make fuzz       libFuzzer harnesses of fuzz/, FUZZ_SECONDS each (installs clang if missing)
#   make install    into $(DESTDIR)$(PREFIX)
#   make format     clang-format every C file in place
#   make clean      remove build/
#
# BUILD names the output folder (default build/), so parallel builds of one tree do not mix.
# Some tests only: TESTS='unit|admin_recipes' tests/run.sh (a grep pattern over suite names) after
# make all asan. More in docs/development.md.

CC ?= cc
PKG_CONFIG ?= pkg-config
PREFIX ?= /usr/local
BUILD ?= build
PORT ?= 8000
FUZZ_SECONDS ?= 30

# The .pc files of scripts/install-deps.sh's build set (hiredis and msgpack: the Redis channels).
PC_BUILD := fcgi libwebsockets sqlite3 libcjson libcrypto libargon2 hiredis msgpack zlib

# Goals that compile nothing in this make: deps-* install, and test, run and fuzz install first
# and then build in a sub-make, which checks. Any other goal needs the libraries now.
DEPS_TARGETS := $(addprefix deps-,build run test fuzz bench)
NO_BUILD_GOALS := deps $(DEPS_TARGETS) test run fuzz clean format
ifneq ($(filter-out $(NO_BUILD_GOALS),$(or $(MAKECMDGOALS),all)),)
ifneq ($(shell $(PKG_CONFIG) --exists $(PC_BUILD) 2>/dev/null && echo yes),yes)
PC_MISSING := $(foreach p,$(PC_BUILD),$(if $(shell $(PKG_CONFIG) --exists $(p) 2>/dev/null && \
	echo y),,$(p)))
DEBS_MISSING := $(shell scripts/install-deps.sh --missing build)
$(error pkg-config finds no $(PC_MISSING): `make deps` (as root or with sudo) installs the \
	Debian build packages$(if $(DEBS_MISSING), (missing: $(DEBS_MISSING))))
endif
endif

# pkg-config's errors are silenced: the check above reports a missing library once, clearly.
pc_cflags = $(shell $(PKG_CONFIG) --cflags $(1) 2>/dev/null)
pc_libs = $(shell $(PKG_CONFIG) --libs $(1) 2>/dev/null)
FCGI_LIBS := $(call pc_libs,fcgi)
LWS_CFLAGS := $(call pc_cflags,libwebsockets)
LWS_LIBS := $(call pc_libs,libwebsockets)
# ws-worker's foreign loop (evloop.c); libev ships no .pc file
EVLIB_LIBS := -lev
SQLITE_CFLAGS := $(call pc_cflags,sqlite3)
SQLITE_LIBS := $(call pc_libs,sqlite3)
CJSON_CFLAGS := $(call pc_cflags,libcjson)
CJSON_LIBS := $(call pc_libs,libcjson)
CRYPTO_CFLAGS := $(call pc_cflags,libcrypto)
CRYPTO_LIBS := $(call pc_libs,libcrypto)
ARGON2_CFLAGS := $(call pc_cflags,libargon2)
ARGON2_LIBS := $(call pc_libs,libargon2)
HIREDIS_CFLAGS := $(call pc_cflags,hiredis)
HIREDIS_LIBS := $(call pc_libs,hiredis)
MSGPACK_CFLAGS := $(call pc_cflags,msgpack)
MSGPACK_LIBS := $(call pc_libs,msgpack)
ZLIB_LIBS := $(call pc_libs,zlib)

WARN := -std=c11 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wno-unused-parameter
TA_CFLAGS := $(WARN) -D_GNU_SOURCE -fPIC -Ishared $(LWS_CFLAGS) $(SQLITE_CFLAGS) \
	$(CJSON_CFLAGS) $(CRYPTO_CFLAGS) $(ARGON2_CFLAGS) $(MSGPACK_CFLAGS) $(HIREDIS_CFLAGS) -MMD -MP
OPT_CFLAGS := -O2 -g
ASAN_CFLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
	-fno-sanitize-recover=undefined
ASAN_LDFLAGS := -fsanitize=address,undefined

# What each binary links: only the libraries its code calls. shared/ goes in as an archive, so a
# program takes only the modules it uses (ws-worker hashes no password: no libargon2).
LOGIN_LIBS := $(FCGI_LIBS) $(SQLITE_LIBS) $(CJSON_LIBS) $(CRYPTO_LIBS) $(ARGON2_LIBS) $(MSGPACK_LIBS) $(HIREDIS_LIBS) $(ZLIB_LIBS)
WS_LIBS := $(LWS_LIBS) $(EVLIB_LIBS) $(SQLITE_LIBS) $(CJSON_LIBS) $(CRYPTO_LIBS) $(MSGPACK_LIBS) $(HIREDIS_LIBS) $(ZLIB_LIBS)
EXT_LIBS := $(CRYPTO_LIBS) $(ARGON2_LIBS)
# The unit tests and the fuzzers: the library code of both programs (no main, so no libfcgi).
UNIT_LIBS := $(LWS_LIBS) $(EVLIB_LIBS) $(SQLITE_LIBS) $(CJSON_LIBS) $(CRYPTO_LIBS) $(ARGON2_LIBS) $(MSGPACK_LIBS) $(HIREDIS_LIBS) $(ZLIB_LIBS)
TOOL_LIBS_hashrate := $(CRYPTO_LIBS) $(ARGON2_LIBS)
TOOL_LIBS_lwsecho := $(LWS_LIBS)
# wsload's channel modes publish with shared/bus.c and shared/event.c (hiredis, msgpack, cJSON).
TOOL_LIBS_wsload := $(CRYPTO_LIBS) $(HIREDIS_LIBS) $(MSGPACK_LIBS) $(CJSON_LIBS) -lm
TOOL_LIBS_fcgi_fixed := $(FCGI_LIBS)

SHARED_SRC := $(wildcard shared/*.c)
LOGIN_SRC := $(wildcard login-fcgi/*.c)
LOGIN_LIB_SRC := $(filter-out login-fcgi/main.c,$(LOGIN_SRC))
WS_SRC := $(wildcard ws-worker/*.c)
WS_LIB_SRC := $(filter-out ws-worker/main.c,$(WS_SRC))
EXT_SRC := sqlite-ext/tokenauth.c
UNIT_SRC := $(wildcard tests/unit/*.c)
TOOL_SRC := $(wildcard bench/*.c)
WSLOAD_PARTS := $(wildcard bench/wsload/*.c)
FUZZ_SRC := $(wildcard fuzz/*.c)

# One object tree per flavour: $(BUILD)/obj (optimised) and $(BUILD)/asan/obj (sanitizers).
objs = $(patsubst %.c,$(1)/obj/%.o,$(2))

.PHONY: all test unit run bench fuzz fuzz-run deps $(DEPS_TARGETS) install format clean asan
# Objects are kept even when only a tool needed them: an interrupted make must not discard them.
.SECONDARY:
all: $(BUILD)/login-fcgi $(BUILD)/ws-worker $(BUILD)/tokenauth.so $(BUILD)/unit-tests tools

# Both flavours are built by one pattern: $(1) is the folder, $(2) the flags.
define flavour
$(1)/obj/%.o: %.c
	@mkdir -p $$(dir $$@)
	$$(CC) $$(TA_CFLAGS) $(2) $$(CFLAGS) -c $$< -o $$@

# shared/ as one archive, rebuilt whole so a removed source leaves no stale member.
$(1)/libshared.a: $(call objs,$(1),$(SHARED_SRC))
	rm -f $$@
	$$(AR) rcs $$@ $$^

# Archives last: the linker takes from them what the objects before them need.
$(1)/login-fcgi: $(call objs,$(1),$(LOGIN_SRC)) $(1)/libshared.a
	$$(CC) $(3) $$(LDFLAGS) -o $$@ $$^ $$(LOGIN_LIBS)

$(1)/ws-worker: $(call objs,$(1),$(WS_SRC)) $(1)/libshared.a
	$$(CC) $(3) $$(LDFLAGS) -o $$@ $$^ $$(WS_LIBS)

$(1)/unit-tests: $(call objs,$(1),$(UNIT_SRC) $(LOGIN_LIB_SRC) $(WS_LIB_SRC)) $(1)/libshared.a
	$$(CC) $(3) $$(LDFLAGS) -o $$@ $$^ $$(UNIT_LIBS)

$(1)/tools/%: $(1)/obj/bench/%.o $(1)/libshared.a
	@mkdir -p $$(dir $$@)
	$$(CC) $(3) $$(LDFLAGS) -o $$@ $$^ $$(TOOL_LIBS_$$*)

# wsload and its parts in bench/wsload/ (no main of their own, so not tools), before the archive
# they take bus and event from.
$(1)/tools/wsload: $(1)/obj/bench/wsload.o $(call objs,$(1),$(WSLOAD_PARTS)) $(1)/libshared.a
	@mkdir -p $$(dir $$@)
	$$(CC) $(3) $$(LDFLAGS) -o $$@ $$^ $$(TOOL_LIBS_wsload)

# The SQLite extension: password, token and config code, loadable with `.load build/tokenauth`.
$(1)/tokenauth.so: $(call objs,$(1),$(EXT_SRC)) $(1)/libshared.a
	$$(CC) -shared $(3) $$(LDFLAGS) -o $$@ $$^ $$(EXT_LIBS)
endef

$(eval $(call flavour,$(BUILD),$(OPT_CFLAGS),))
$(eval $(call flavour,$(BUILD)/asan,$(ASAN_CFLAGS),$(ASAN_LDFLAGS)))

TOOLS := $(patsubst %.c,$(BUILD)/tools/%,$(notdir $(TOOL_SRC)))
tools: $(TOOLS)
.PHONY: tools

# The unit runner calls test_<file>() for each tests/unit/test_<file>.c.
UNIT_NAMES := $(patsubst tests/unit/test_%.c,%,$(filter tests/unit/test_%.c,$(UNIT_SRC)))
$(BUILD)/unit-list.h: Makefile $(UNIT_SRC)
	@mkdir -p $(dir $@)
	@printf '%s\n' $(foreach n,$(UNIT_NAMES),'UNIT($(n))') > $@.tmp && mv $@.tmp $@
$(BUILD)/obj/tests/unit/main.o $(BUILD)/asan/obj/tests/unit/main.o: $(BUILD)/unit-list.h
$(BUILD)/obj/tests/unit/main.o $(BUILD)/asan/obj/tests/unit/main.o: CFLAGS += -I$(BUILD)

asan: $(BUILD)/asan/login-fcgi $(BUILD)/asan/ws-worker $(BUILD)/asan/unit-tests $(BUILD)/asan/tokenauth.so

# Installing never happens while the Makefile is read: only these targets install, each a set
# of scripts/install-deps.sh (`make deps` = the build set).
deps: deps-build
$(DEPS_TARGETS): deps-%:
	@scripts/install-deps.sh $*

# Install, then build, then test, in that order even with -j: the sub-make starts only after
# deps-test, and reads the pkg-config flags of what it installed.
test: deps-test
	@$(MAKE) --no-print-directory all asan
	@BUILD=$(BUILD) tests/run.sh

unit: $(BUILD)/unit-tests $(BUILD)/asan/unit-tests
	$(BUILD)/unit-tests && $(BUILD)/asan/unit-tests

run: deps-run
	@$(MAKE) --no-print-directory all
	@BUILD=$(BUILD) PORT=$(PORT) scripts/run.sh

bench: all
	@BUILD=$(BUILD) bench/run.sh

# libFuzzer: each fuzz/fuzz_<name>.c links the library code (not the mains) and its own
# corpus fuzz/corpus/<name>/.
# clang comes from install-deps.sh (deps-fuzz), before the sub-make builds any harness.
FUZZ_BINS := $(patsubst fuzz/%.c,$(BUILD)/fuzz/%,$(FUZZ_SRC))
$(BUILD)/fuzz/%: fuzz/%.c $(SHARED_SRC) $(LOGIN_LIB_SRC) $(WS_LIB_SRC)
	@mkdir -p $(dir $@)
	clang $(filter-out -MMD -MP,$(TA_CFLAGS)) -g -O1 -fsanitize=fuzzer,address,undefined \
		-o $@ $^ $(UNIT_LIBS)
fuzz: deps-fuzz
	@$(MAKE) --no-print-directory fuzz-run
fuzz-run: $(FUZZ_BINS)
	@for f in $(FUZZ_BINS); do n=$${f##*/fuzz_}; mkdir -p $(BUILD)/fuzz/corpus-$$n; \
	  echo "fuzz: $$n for $(FUZZ_SECONDS)s"; \
	  $$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=0 $(BUILD)/fuzz/corpus-$$n \
	    fuzz/corpus/$$n || exit 1; done

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/tokenauth \
		$(DESTDIR)$(PREFIX)/share/tokenauth
	install -m 755 $(BUILD)/login-fcgi $(BUILD)/ws-worker $(DESTDIR)$(PREFIX)/bin/
	install -m 644 $(BUILD)/tokenauth.so $(DESTDIR)$(PREFIX)/lib/tokenauth/
	install -m 644 schema.sql $(DESTDIR)$(PREFIX)/share/tokenauth/
	cp -r www conf $(DESTDIR)$(PREFIX)/share/tokenauth/

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
