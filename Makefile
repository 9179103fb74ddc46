# tokenauth -- log in once over HTTP, get a token, open authenticated WebSockets with it.
#
# Targets people type:
#   make            build build/login-fcgi, build/ws-worker and build/tokenauth.so
#   make test       install what is missing, build (normal + ASan/UBSan), run every test
#   make unit       the unit tests only (one file: build/unit-tests db runs tests/unit/test_db.c)
#   make run        the demo: lighttpd on 127.0.0.1:$(PORT) with both services behind it
#   make bench      the benchmarks of bench/ (figures go to docs/bench-results.md)
#   make fuzz       libFuzzer harnesses of fuzz/, FUZZ_SECONDS each (needs clang)
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

DEPS_OK := $(shell scripts/install-deps.sh build >&2 && echo yes)
ifneq ($(DEPS_OK),yes)
$(error scripts/install-deps.sh could not install the build dependencies)
endif

LIBS_PC := libfcgi libwebsockets sqlite3 libcjson libcrypto libargon2 msgpack hiredis
FCGI_LIBS := -lfcgi
LWS_CFLAGS := $(shell $(PKG_CONFIG) --cflags libwebsockets)
LWS_LIBS := $(shell $(PKG_CONFIG) --libs libwebsockets)
SQLITE_CFLAGS := $(shell $(PKG_CONFIG) --cflags sqlite3)
SQLITE_LIBS := $(shell $(PKG_CONFIG) --libs sqlite3)
CJSON_CFLAGS := $(shell $(PKG_CONFIG) --cflags libcjson)
CJSON_LIBS := $(shell $(PKG_CONFIG) --libs libcjson)
CRYPTO_CFLAGS := $(shell $(PKG_CONFIG) --cflags libcrypto)
CRYPTO_LIBS := $(shell $(PKG_CONFIG) --libs libcrypto)
ARGON2_CFLAGS := $(shell $(PKG_CONFIG) --cflags libargon2)
ARGON2_LIBS := $(shell $(PKG_CONFIG) --libs libargon2)
MSGPACK_CFLAGS := $(shell $(PKG_CONFIG) --cflags msgpack)
MSGPACK_LIBS := $(shell $(PKG_CONFIG) --libs msgpack)
HIREDIS_CFLAGS := $(shell $(PKG_CONFIG) --cflags hiredis)
HIREDIS_LIBS := $(shell $(PKG_CONFIG) --libs hiredis)

WARN := -std=c11 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wno-unused-parameter
TA_CFLAGS := $(WARN) -D_GNU_SOURCE -fPIC -Ishared $(LWS_CFLAGS) $(SQLITE_CFLAGS) \
	$(CJSON_CFLAGS) $(CRYPTO_CFLAGS) $(ARGON2_CFLAGS) $(MSGPACK_CFLAGS) $(HIREDIS_CFLAGS) -MMD -MP
OPT_CFLAGS := -O2 -g
ASAN_CFLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
	-fno-sanitize-recover=undefined
ASAN_LDFLAGS := -fsanitize=address,undefined
ALL_LIBS := $(FCGI_LIBS) $(LWS_LIBS) $(SQLITE_LIBS) $(CJSON_LIBS) $(CRYPTO_LIBS) $(ARGON2_LIBS) \
	$(MSGPACK_LIBS) $(HIREDIS_LIBS) -lm

SHARED_SRC := $(wildcard shared/*.c)
LOGIN_SRC := $(wildcard login-fcgi/*.c)
LOGIN_LIB_SRC := $(filter-out login-fcgi/main.c,$(LOGIN_SRC))
WS_SRC := $(wildcard ws-worker/*.c)
WS_LIB_SRC := $(filter-out ws-worker/main.c,$(WS_SRC))
EXT_SRC := sqlite-ext/tokenauth.c
UNIT_SRC := $(wildcard tests/unit/*.c)
TOOL_SRC := $(wildcard bench/*.c)
FUZZ_SRC := $(wildcard fuzz/*.c)

# One object tree per flavour: $(BUILD)/obj (optimised) and $(BUILD)/asan/obj (sanitizers).
objs = $(patsubst %.c,$(1)/obj/%.o,$(2))

.PHONY: all test unit run bench fuzz fuzz-deps install format clean asan
# Objects are kept even when only a tool needed them: an interrupted make must not discard them.
.SECONDARY:
all: $(BUILD)/login-fcgi $(BUILD)/ws-worker $(BUILD)/tokenauth.so $(BUILD)/unit-tests tools

# Both flavours are built by one pattern: $(1) is the folder, $(2) the flags.
define flavour
$(1)/obj/%.o: %.c
	@mkdir -p $$(dir $$@)
	$$(CC) $$(TA_CFLAGS) $(2) $$(CFLAGS) -c $$< -o $$@

$(1)/login-fcgi: $(call objs,$(1),$(LOGIN_SRC) $(SHARED_SRC))
	$$(CC) $(3) $$(LDFLAGS) -o $$@ $$^ $$(ALL_LIBS)

$(1)/ws-worker: $(call objs,$(1),$(WS_SRC) $(SHARED_SRC))
	$$(CC) $(3) $$(LDFLAGS) -o $$@ $$^ $$(ALL_LIBS)

$(1)/unit-tests: $(call objs,$(1),$(UNIT_SRC) $(LOGIN_LIB_SRC) $(WS_LIB_SRC) $(SHARED_SRC))
	$$(CC) $(3) $$(LDFLAGS) -o $$@ $$^ $$(ALL_LIBS)

$(1)/tools/%: $(1)/obj/bench/%.o $(call objs,$(1),$(SHARED_SRC))
	@mkdir -p $$(dir $$@)
	$$(CC) $(3) $$(LDFLAGS) -o $$@ $$^ $$(ALL_LIBS)

# The SQLite extension: password, token and channel code, loadable with `.load build/tokenauth`.
$(1)/tokenauth.so: $(call objs,$(1),$(EXT_SRC) shared/password.c shared/token.c shared/channel.c)
	$$(CC) -shared $(3) $$(LDFLAGS) -o $$@ $$^ $$(CRYPTO_LIBS) $$(ARGON2_LIBS)
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

test: all asan
	@scripts/install-deps.sh test
	@BUILD=$(BUILD) tests/run.sh

unit: $(BUILD)/unit-tests $(BUILD)/asan/unit-tests
	$(BUILD)/unit-tests && $(BUILD)/asan/unit-tests

run: all
	@BUILD=$(BUILD) PORT=$(PORT) scripts/run.sh

bench: all
	@BUILD=$(BUILD) bench/run.sh

# libFuzzer: each fuzz/fuzz_<name>.c links the library code (not the mains) and its own
# corpus fuzz/corpus/<name>/.
# clang comes from install-deps.sh, run before any harness is built (order-only prerequisite).
FUZZ_BINS := $(patsubst fuzz/%.c,$(BUILD)/fuzz/%,$(FUZZ_SRC))
fuzz-deps:
	@scripts/install-deps.sh fuzz
$(BUILD)/fuzz/%: fuzz/%.c $(SHARED_SRC) $(LOGIN_LIB_SRC) $(WS_LIB_SRC) | fuzz-deps
	@mkdir -p $(dir $@)
	clang $(filter-out -MMD -MP,$(TA_CFLAGS)) -g -O1 -fsanitize=fuzzer,address,undefined \
		-o $@ $^ $(ALL_LIBS)
fuzz: $(FUZZ_BINS)
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
