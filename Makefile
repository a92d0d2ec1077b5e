# imei — build, test, bench, demo.  `make help` lists the targets.
#
# Three layers of C, one folder each, depending in one direction (docs/architecture.md):
#   core/     the Lua-free core: identifiers, TAC db, lists, sightings, dump reading
#   binding/  the Lua binding of the core's data objects (imei.core)
#   host/     the policy host: engine, sandbox, replay, and their bindings
#
# Layout of the build (all under $(BUILD), never in the source tree):
#   $(BUILD)/libimei_core.a the Lua-free core alone (no -llua5.4 needed)
#   $(BUILD)/libimei.a      core + binding + host, for hosts written in C (link -llua5.4)
#   $(BUILD)/imei/core.so   the Lua 5.4 C module `imei.core` (core + binding): the data objects,
#                           the only module a policy's sandbox opens
#   $(BUILD)/imei/host.so   the Lua 5.4 C module `imei.host` (core + binding + host): engine,
#                           replay, OS helpers; for trusted Lua hosts, never for a policy
#   $(BUILD)/tests/*        C unit tests
#   $(BUILD)/imei-eird      the EIR service: N5g-eir and S13 (server/*.c; nghttp2, http_parser,
#                           libev, freeDiameter)
#   $(BUILD)/tests/s13_mme  the test MME: a freeDiameter client sending ECRs (tests/s13/)
#   $(BUILD)/imei/exec.so   the Lua module `imei.exec` (`imei serve` execs imei-eird)
#   $(BUILD)/embed_example  docs/embed_example.c: a C host of the engine

LUA        ?= lua5.4
LUA_INC    ?= /usr/include/lua5.4
BUILD      ?= build
CC         ?= cc
OPT        ?= -O2 -g
SAN        ?=
CFLAGS_ALL  = -std=c11 -D_DEFAULT_SOURCE -fPIC -Wall -Wextra -Werror $(OPT) $(SAN) $(CFLAGS)
LDLIBS_ALL  = -lnettle -llmdb -lz -lpthread -lm $(LDLIBS)
# C programs (tests, hosts) embed Lua for the policy host; the Lua module must not link it.
HOST_LDLIBS = -llua5.4 $(LDLIBS_ALL)
FUZZ_SECONDS ?= 60

# Debian packages the project needs (see README "Dependencies").
DEB_PACKAGES = build-essential clang libclang-rt-14-dev pkg-config \
	lua5.4 liblua5.4-dev lua-lpeg lua-busted luarocks lua-cjson lua-argparse lua-check \
	nettle-dev liblmdb-dev zlib1g-dev libosmocore-dev python3 python3-stdnum \
	cppcheck sqlite3 libsqlite3-dev libnghttp2-dev libev-dev nghttp2-client curl \
	libhttp-parser-dev libfreediameter-dev freediameter freediameter-extensions

CORE_SRC = $(wildcard core/*.c)
BIND_SRC = $(wildcard binding/*.c)
HOST_SRC = $(wildcard host/*.c)
CORE_OBJ = $(CORE_SRC:core/%.c=$(BUILD)/obj/core/%.o)
BIND_OBJ = $(BIND_SRC:binding/%.c=$(BUILD)/obj/binding/%.o)
HOST_OBJ = $(HOST_SRC:host/%.c=$(BUILD)/obj/host/%.o)
ALL_OBJ  = $(CORE_OBJ) $(BIND_OBJ) $(HOST_OBJ)
# Each layer sees only its own headers and those of the layers below it.
CORE_INC = -Icore
BIND_INC = -Icore -Ibinding -I$(LUA_INC)
HOST_INC = -Icore -Ibinding -Ihost -I$(LUA_INC)
CTEST_SRC = $(wildcard tests/c/test_*.c)
CTEST_BIN = $(CTEST_SRC:tests/c/%.c=$(BUILD)/tests/%)
# The N5g-eir service: server/*.c except the Lua module server/lua_exec.c.
SERVER_SRC = $(filter-out server/lua_%.c,$(wildcard server/*.c))
SERVER_OBJ = $(SERVER_SRC:server/%.c=$(BUILD)/server/%.o)
SERVER_LDLIBS = -lnghttp2 -lhttp_parser -lev -lfdcore -lfdproto
SERVER_BIN = $(BUILD)/imei-eird $(BUILD)/imei/exec.so $(BUILD)/embed_example

LUA_ENV = LUA_PATH="$(CURDIR)/lua/?.lua;$(CURDIR)/lua/?/init.lua;;" \
	LUA_CPATH="$(CURDIR)/$(BUILD)/?.so;;"

.PHONY: all help deps build test test-c test-lua test-fuzz test-serve test-s13 sanitize fuzz bench demo lint clean rock

all: build

help:
	@echo "make deps      install the Debian packages the project needs (apt-get, as root)"
	@echo "make build     build libimei.a and the Lua module imei.core into $(BUILD)/"
	@echo "make test      build, then run C tests, busted specs and short fuzz runs"
	@echo "make sanitize  the whole suite under ASan+UBSan (gcc)"
	@echo "make fuzz      libFuzzer on every C parser, FUZZ_SECONDS=$(FUZZ_SECONDS) each"
	@echo "make bench     benchmarks against peers (libosmocore, python-stdnum, pure Lua)"
	@echo "make demo      the main job on bundled sample data"
	@echo "make lint      the layers check (tests/layers), luacheck and cppcheck"
	@echo "make clean     remove $(BUILD)/"

# `deps` installs what is missing; as non-root it prints the apt-get line and stops.
deps:
	@missing=$$(for p in $(DEB_PACKAGES); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" != 0 ]; then \
		echo "missing Debian packages; run as root:"; \
		echo "  apt-get install -y $$missing"; exit 1; fi; \
	echo "installing: $$missing"; \
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null

build: $(BUILD)/libimei_core.a $(BUILD)/libimei.a $(BUILD)/imei/core.so $(BUILD)/imei/host.so $(SERVER_BIN)

# The core is compiled without the Lua headers on its include path: a lua.h there fails the build.
$(BUILD)/obj/core/%.o: core/%.c $(wildcard core/*.h) | $(BUILD)/obj/core
	$(CC) $(CFLAGS_ALL) $(CORE_INC) -c $< -o $@

$(BUILD)/obj/binding/%.o: binding/%.c $(wildcard core/*.h binding/*.h) | $(BUILD)/obj/binding
	$(CC) $(CFLAGS_ALL) $(BIND_INC) -c $< -o $@

$(BUILD)/obj/host/%.o: host/%.c $(wildcard core/*.h binding/*.h host/*.h) | $(BUILD)/obj/host
	$(CC) $(CFLAGS_ALL) $(HOST_INC) -c $< -o $@

$(BUILD)/libimei_core.a: $(CORE_OBJ)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/libimei.a: $(ALL_OBJ)
	rm -f $@ && ar rcs $@ $^

# imei.core holds no host code: the objects of host/ are not linked into it.
$(BUILD)/imei/core.so: $(CORE_OBJ) $(BIND_OBJ) | $(BUILD)/imei
	$(CC) $(CFLAGS_ALL) -shared -o $@ $^ $(LDLIBS_ALL)

# imei.host carries its own copy of the core and the binding (a Lua C module cannot link
# against another); the classes of the data objects are registered by name, so objects
# made by either module are the same to both.
$(BUILD)/imei/host.so: $(ALL_OBJ) | $(BUILD)/imei
	$(CC) $(CFLAGS_ALL) -shared -o $@ $^ $(LDLIBS_ALL)

$(BUILD)/tests/%: tests/c/%.c tests/c/check.h $(BUILD)/libimei.a | $(BUILD)/tests
	$(CC) $(CFLAGS_ALL) $(HOST_INC) -Itests/c $< -o $@ $(BUILD)/libimei.a $(HOST_LDLIBS)

$(BUILD)/server/%.o: server/%.c $(wildcard server/*.h core/*.h binding/*.h host/*.h) | $(BUILD)/server
	$(CC) $(CFLAGS_ALL) $(HOST_INC) -Iserver -c $< -o $@

$(BUILD)/imei-eird: $(SERVER_OBJ) $(BUILD)/libimei.a
	$(CC) $(CFLAGS_ALL) -o $@ $(SERVER_OBJ) $(BUILD)/libimei.a $(SERVER_LDLIBS) $(HOST_LDLIBS)

$(BUILD)/imei/exec.so: server/lua_exec.c | $(BUILD)/imei
	$(CC) $(CFLAGS_ALL) -I$(LUA_INC) -shared -o $@ $<

$(BUILD)/embed_example: docs/embed_example.c $(BUILD)/libimei.a
	$(CC) $(CFLAGS_ALL) $(HOST_INC) $< -o $@ $(BUILD)/libimei.a $(HOST_LDLIBS)

# The S13 identity rules are tested on their own (no Diameter library).
$(BUILD)/tests/test_s13_ident: tests/c/test_s13_ident.c server/s13_ident.c server/s13_ident.h tests/c/check.h | $(BUILD)/tests
	$(CC) $(CFLAGS_ALL) -Iserver -Itests/c $< server/s13_ident.c -o $@

# The test MME: a freeDiameter client (libfdcore) that sends ECRs to imei-eird.
S13_MME = $(BUILD)/tests/s13_mme
$(S13_MME): tests/s13/mme.c server/s13_dict.c server/s13_dict.h server/s13_ident.c server/s13_ident.h | $(BUILD)/tests
	$(CC) $(CFLAGS_ALL) -Iserver $< server/s13_dict.c server/s13_ident.c -o $@ -lfdcore -lfdproto -lpthread -lm

# The query parser of the service is tested (and fuzzed) on its own.
$(BUILD)/tests/test_n5g: tests/c/test_n5g.c server/n5g.c server/n5g.h server/ebuf.c server/ebuf.h tests/c/check.h | $(BUILD)/tests
	$(CC) $(CFLAGS_ALL) -Iserver -Itests/c $< server/n5g.c server/ebuf.c -o $@

$(BUILD)/obj/core $(BUILD)/obj/binding $(BUILD)/obj/host $(BUILD)/imei $(BUILD)/tests $(BUILD)/server:
	mkdir -p $@

# The whole suite; tests/run prints one closing line "N passed, N failed".
test: deps build $(CTEST_BIN) $(S13_MME)
	@BUILD=$(BUILD) LUA=$(LUA) tests/run

test-c: build $(CTEST_BIN)
	@BUILD=$(BUILD) tests/run c

test-lua: build
	@BUILD=$(BUILD) tests/run lua

test-fuzz: build
	@BUILD=$(BUILD) tests/run fuzz

test-serve: build
	@BUILD=$(BUILD) tests/run serve

test-s13: build $(S13_MME)
	@BUILD=$(BUILD) tests/run s13

# ASan+UBSan build in its own folder; the Lua interpreter is not instrumented,
# so the runtime is preloaded into it (tests/run does that when SANITIZE=1).
sanitize: deps
	$(MAKE) BUILD=build/sanitize CC=gcc OPT="-O1 -g -fno-omit-frame-pointer" \
		SAN="-fsanitize=address,undefined -fno-sanitize-recover=all" \
		build/sanitize/libimei_core.a build/sanitize/libimei.a build/sanitize/imei/core.so build/sanitize/imei/host.so \
		$(CTEST_SRC:tests/c/%.c=build/sanitize/tests/%) build/sanitize/imei-eird build/sanitize/imei/exec.so \
		build/sanitize/embed_example build/sanitize/tests/s13_mme
	@BUILD=build/sanitize SANITIZE=1 tests/run c lua serve s13

fuzz: deps build
	@FUZZ_SECONDS=$(FUZZ_SECONDS) tests/fuzz/run

bench: deps build
	@BUILD=$(BUILD) bench/run

demo: deps build
	@BUILD=$(BUILD) ./demo.sh

# lint also checks the layers from the objects' symbols (tests/layers), so it builds first.
lint: deps build
	tests/layers $(BUILD)
	luacheck lua bin/imei tests/spec tests/fuzz/policy_fuzz.lua bench policies
	cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability \
		--std=c11 --inline-suppr -Icore -Ibinding -Ihost core binding host server tests/c tests/s13 tests/fuzz

rock:
	luarocks --lua-version 5.4 make --deps-mode=none --local imei-scm-1.rockspec

clean:
	rm -rf build
	rm -rf core/*.o binding/*.o host/*.o server/*.o imei/   # left by luarocks make (builtin backend builds in place)
