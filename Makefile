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
#   $(BUILD)/embed_example  docs/embed_example.c: a C host of the engine (public API only)
#   $(BUILD)/libimei.so.*   the shared library (SONAME libimei.so.MAJOR; exports imei_* only)
#   $(BUILD)/man/*.1        man pages of imei and imei-eird, generated from their --help
#
# Install (docs/install.md): `make install PREFIX=/usr/local DESTDIR=` puts the library,
# headers (include/imei/), imei.pc, CLI, service, Lua modules, policies, sample data, man
# pages, config and systemd unit in place; the rock (imei-scm-1.rockspec, make backend)
# and the Debian packages (debian/, `make deb`) use the same targets.

LUA        ?= lua5.4
LUA_INC    ?= /usr/include/lua5.4
BUILD      ?= build
CC         ?= cc
OPT        ?= -O2 -g
SAN        ?=
CFLAGS_ALL  = -std=c11 -D_DEFAULT_SOURCE -fPIC -Wall -Wextra -Werror $(OPT) $(SAN) $(EXT_CPPFLAGS) $(CFLAGS)
LDLIBS_ALL  = $(EXT_LDFLAGS) $(LDFLAGS) -lnettle -llmdb -lhiredis -lz -lpthread -lm $(LDLIBS)
# C programs (tests, hosts) embed Lua for the policy host; the Lua module must not link it.
HOST_LDLIBS = -llua5.4 $(LDLIBS_ALL)
FUZZ_SECONDS ?= 60
# One version, in the public header.
VERSION := $(shell sed -n 's/^\#define IMEI_VERSION_STRING "\(.*\)"/\1/p' include/imei/imei.h)
MAJOR   := $(firstword $(subst ., ,$(VERSION)))
# Where external libraries are when not in the compiler's default paths (the rock passes them).
EXT_CPPFLAGS ?=
EXT_LDFLAGS  ?=

# Install layout (GNU names; LuaRocks maps its own onto them, see the rockspec).
PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
LIBDIR     ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
DATADIR    ?= $(PREFIX)/share
MANDIR     ?= $(DATADIR)/man
SYSCONFDIR ?= $(PREFIX)/etc
UNITDIR    ?= $(PREFIX)/lib/systemd/system
LUA_LMOD   ?= $(DATADIR)/lua/5.4
LUA_CMOD   ?= $(LIBDIR)/lua/5.4
IMEI_SHAREDIR ?= $(DATADIR)/imei
# The rock: its share folder relative to the LuaRocks tree (a binary rock may move).
IMEI_TREE_SHAREDIR ?=
DESTDIR    ?=

# Debian packages the project needs (see README "Dependencies").
DEB_PACKAGES = build-essential clang libclang-rt-14-dev pkg-config \
	lua5.4 liblua5.4-dev lua-lpeg lua-busted luarocks lua-cjson lua-argparse lua-check \
	nettle-dev liblmdb-dev zlib1g-dev libosmocore-dev python3 python3-stdnum \
	cppcheck sqlite3 libsqlite3-dev libnghttp2-dev libev-dev nghttp2-client curl \
	libhttp-parser-dev libfreediameter-dev freediameter freediameter-extensions \
	redis-server redis-tools libhiredis-dev libssl-dev openssl chromium

CORE_SRC = $(wildcard core/*.c)
BIND_SRC = $(filter-out binding/lua_core_module.c,$(wildcard binding/*.c))
HOST_SRC = $(filter-out host/lua_host_module.c,$(wildcard host/*.c))
CORE_OBJ = $(CORE_SRC:core/%.c=$(BUILD)/obj/core/%.o)
BIND_OBJ = $(BIND_SRC:binding/%.c=$(BUILD)/obj/binding/%.o)
HOST_OBJ = $(HOST_SRC:host/%.c=$(BUILD)/obj/host/%.o)
ALL_OBJ  = $(CORE_OBJ) $(BIND_OBJ) $(HOST_OBJ)
# Each layer sees only its own headers and those of the layers below it.
CORE_INC = -Iinclude -Icore
BIND_INC = -Iinclude -Icore -Ibinding -I$(LUA_INC)
HOST_INC = -Iinclude -Icore -Ibinding -Ihost -I$(LUA_INC)
# The installed headers (include/imei/): the public API, nothing internal, no Lua.
PUBLIC_HEADERS = include/imei/imei.h core/imei_status.h
CTEST_SRC = $(wildcard tests/c/test_*.c)
CTEST_BIN = $(CTEST_SRC:tests/c/%.c=$(BUILD)/tests/%)
# The N5g-eir service: server/*.c except the Lua module server/lua_exec.c.
SERVER_SRC = $(filter-out server/lua_%.c,$(wildcard server/*.c))
SERVER_OBJ = $(SERVER_SRC:server/%.c=$(BUILD)/server/%.o)
SERVER_LDLIBS = -lnghttp2 -lhttp_parser -lev -lfdcore -lfdproto
SERVER_BIN = $(BUILD)/imei-eird $(BUILD)/imei/exec.so $(BUILD)/embed_example
SHLIB = $(BUILD)/libimei.so.$(VERSION)

LUA_ENV = LUA_PATH="$(CURDIR)/lua/?.lua;$(CURDIR)/lua/?/init.lua;;" \
	LUA_CPATH="$(CURDIR)/$(BUILD)/?.so;;"

.PHONY: all help deps build test test-c test-lua test-fuzz test-serve test-s13 test-install test-redis sanitize fuzz bench demo lint \
	clean rock install install-lua install-bin install-share install-lib install-service install-rock uninstall man deb \
	deps-deb

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
	@echo "make install   PREFIX=/usr/local DESTDIR=: library, headers, imei.pc, CLI, service, Lua modules,"
	@echo "               policies, data, man pages, config and systemd unit (docs/install.md)"
	@echo "make deb       the Debian packages (debian/) into $(BUILD)/deb/"
	@echo "make test-install  install into a temporary prefix and LuaRocks tree and run what was installed"
	@echo "make clean     remove $(BUILD)/"

# `deps` installs what is missing; as non-root it prints the apt-get line and stops.
APT_INSTALL = missing=$$(for p in $(1); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" != 0 ]; then \
		echo "missing Debian packages; run as root:"; \
		echo "  apt-get install -y $$missing"; exit 1; fi; \
	echo "installing: $$missing"; \
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null

deps:
	@$(call APT_INSTALL,$(DEB_PACKAGES))

# Only `make deb` needs the packaging tools (not make test).
DEB_BUILD_PACKAGES = debhelper dpkg-dev fakeroot
deps-deb: deps
	@$(call APT_INSTALL,$(DEB_BUILD_PACKAGES))

build: $(BUILD)/libimei_core.a $(BUILD)/libimei.a $(SHLIB) $(BUILD)/imei/core.so $(BUILD)/imei/host.so $(SERVER_BIN)

# The core is compiled without the Lua headers on its include path: a lua.h there fails the build.
$(BUILD)/obj/core/%.o: core/%.c $(wildcard core/*.h) $(PUBLIC_HEADERS) | $(BUILD)/obj/core
	$(CC) $(CFLAGS_ALL) $(CORE_INC) -c $< -o $@

$(BUILD)/obj/binding/%.o: binding/%.c $(wildcard core/*.h binding/*.h) | $(BUILD)/obj/binding
	$(CC) $(CFLAGS_ALL) $(BIND_INC) -c $< -o $@

$(BUILD)/obj/host/%.o: host/%.c $(wildcard core/*.h binding/*.h host/*.h) $(PUBLIC_HEADERS) | $(BUILD)/obj/host
	$(CC) $(CFLAGS_ALL) $(HOST_INC) -c $< -o $@

# Where the installed Lua modules will be, for the programs that look for them (libimei's
# and imei-eird's default runtime path): passed as -DIMEI_LUA_LMOD; the stamp changes only
# when the directory does, so `make install PREFIX=…` rebuilds just what depends on it.
$(BUILD)/gen/install-dirs: FORCE
	@mkdir -p $(@D)
	@echo '$(LUA_LMOD)' >$@.tmp
	@cmp -s $@.tmp $@ && rm -f $@.tmp || mv $@.tmp $@
DIRS_DEF = -DIMEI_LUA_LMOD='"$(LUA_LMOD)"'
$(BUILD)/obj/host/api.o: $(BUILD)/gen/install-dirs
$(BUILD)/obj/host/api.o: HOST_INC += $(DIRS_DEF)
$(BUILD)/server/main.o: $(BUILD)/gen/install-dirs
$(BUILD)/server/main.o: HOST_INC += $(DIRS_DEF)
FORCE:

$(BUILD)/libimei_core.a: $(CORE_OBJ)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/libimei.a: $(ALL_OBJ)
	rm -f $@ && ar rcs $@ $^

# The shared library: the same objects, only the imei_* names exported (host/libimei.map).
$(SHLIB): $(ALL_OBJ) host/libimei.map
	$(CC) $(CFLAGS_ALL) -shared -Wl,-soname,libimei.so.$(MAJOR) -Wl,--version-script=host/libimei.map \
		-Wl,--no-undefined -o $@ $(ALL_OBJ) $(HOST_LDLIBS)
	ln -sf libimei.so.$(VERSION) $(BUILD)/libimei.so.$(MAJOR)
	ln -sf libimei.so.$(MAJOR) $(BUILD)/libimei.so

# imei.core holds no host code: the objects of host/ are not linked into it. The Lua
# entry points (luaopen_*) live in the modules only, never in libimei.
$(BUILD)/imei/core.so: $(CORE_OBJ) $(BIND_OBJ) $(BUILD)/obj/binding/lua_core_module.o | $(BUILD)/imei
	$(CC) $(CFLAGS_ALL) -shared -o $@ $^ $(LDLIBS_ALL)

# imei.host carries its own copy of the core and the binding (a Lua C module cannot link
# against another); the classes of the data objects are registered by name, so objects
# made by either module are the same to both.
$(BUILD)/imei/host.so: $(ALL_OBJ) $(BUILD)/obj/host/lua_host_module.o | $(BUILD)/imei
	$(CC) $(CFLAGS_ALL) -shared -o $@ $^ $(LDLIBS_ALL)

$(BUILD)/tests/%: tests/c/%.c tests/c/check.h $(BUILD)/libimei.a | $(BUILD)/tests
	$(CC) $(CFLAGS_ALL) $(HOST_INC) -Itests/c $< -o $@ $(BUILD)/libimei.a $(HOST_LDLIBS)

$(BUILD)/server/%.o: server/%.c $(wildcard server/*.h core/*.h binding/*.h host/*.h) | $(BUILD)/server
	$(CC) $(CFLAGS_ALL) $(HOST_INC) -Iserver -c $< -o $@

$(BUILD)/imei-eird: $(SERVER_OBJ) $(BUILD)/libimei.a
	$(CC) $(CFLAGS_ALL) -o $@ $(SERVER_OBJ) $(BUILD)/libimei.a $(EXT_LDFLAGS) $(SERVER_LDLIBS) $(HOST_LDLIBS)

$(BUILD)/imei/exec.so: server/lua_exec.c | $(BUILD)/imei
	$(CC) $(CFLAGS_ALL) -I$(LUA_INC) -shared -o $@ $<

# Built as an embedder does: the public headers alone on the include path, staged as they
# are installed (include/imei/).
STAGED_HEADERS = $(addprefix $(BUILD)/include/imei/,$(notdir $(PUBLIC_HEADERS)))
$(BUILD)/include/imei/%.h: include/imei/%.h
	@mkdir -p $(@D) && cp $< $@
$(BUILD)/include/imei/%.h: core/%.h
	@mkdir -p $(@D) && cp $< $@
$(BUILD)/embed_example: docs/embed_example.c $(STAGED_HEADERS) $(BUILD)/libimei.a
	$(CC) $(CFLAGS_ALL) -I$(BUILD)/include $< -o $@ $(BUILD)/libimei.a $(HOST_LDLIBS)

# The S13 identity rules are tested on their own (no Diameter library).
$(BUILD)/tests/test_s13_ident: tests/c/test_s13_ident.c server/s13_ident.c server/s13_ident.h tests/c/check.h | $(BUILD)/tests
	$(CC) $(CFLAGS_ALL) -Iserver -Itests/c $< server/s13_ident.c -o $@

# The test MME: a freeDiameter client (libfdcore) that sends ECRs to imei-eird.
S13_MME = $(BUILD)/tests/s13_mme
$(S13_MME): tests/s13/mme.c server/s13_dict.c server/s13_dict.h server/s13_ident.c server/s13_ident.h | $(BUILD)/tests
	$(CC) $(CFLAGS_ALL) -Iserver $< server/s13_dict.c server/s13_ident.c -o $@ -lfdcore -lfdproto -lpthread -lm

# The Redis store against real servers the test starts (tests/redis/run).
REDIS_TESTS = $(BUILD)/tests/redis_store
$(BUILD)/tests/redis_store: tests/redis/test_redis_store.c tests/redis/servers.h tests/c/check.h $(BUILD)/libimei.a | $(BUILD)/tests
	$(CC) $(CFLAGS_ALL) $(HOST_INC) -Itests/c -Itests/redis $< -o $@ $(BUILD)/libimei.a $(HOST_LDLIBS)

# The query parser of the service is tested (and fuzzed) on its own.
$(BUILD)/tests/test_n5g: tests/c/test_n5g.c server/n5g.c server/n5g.h server/ebuf.c server/ebuf.h tests/c/check.h | $(BUILD)/tests
	$(CC) $(CFLAGS_ALL) -Iserver -Itests/c $< server/n5g.c server/ebuf.c -o $@

$(BUILD)/obj/core $(BUILD)/obj/binding $(BUILD)/obj/host $(BUILD)/imei $(BUILD)/tests $(BUILD)/server:
	mkdir -p $@

# ---- install ----------------------------------------------------------------------------
# `make install PREFIX=… DESTDIR=…` = every part below; the rock runs install-rock (no C
# library, headers or unit), the Debian packages split `make install` by file.
INSTALL ?= install
SUBST = sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|g' \
	-e 's|@BINDIR@|$(BINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' -e 's|@SHAREDIR@|$(IMEI_SHAREDIR)|g' \
	-e 's|@VERSION@|$(VERSION)|g'
LUA_FILES = $(shell cd lua && find imei -name '*.lua' | LC_ALL=C sort)
D = $(DESTDIR)

man: $(BUILD)/man/imei.1 $(BUILD)/man/imei-eird.1

$(BUILD)/man/imei.1: dist/man.lua $(wildcard lua/imei/cli/*.lua) $(BUILD)/imei/core.so
	@mkdir -p $(@D)
	IMEI_BUILD=$(BUILD) $(LUA) dist/man.lua imei $(VERSION) '$(LUA) bin/imei' >$@.tmp && mv $@.tmp $@

$(BUILD)/man/imei-eird.1: dist/man.lua $(BUILD)/imei-eird
	@mkdir -p $(@D)
	$(LUA) dist/man.lua imei-eird $(VERSION) $(BUILD)/imei-eird >$@.tmp && mv $@.tmp $@

# Where the Lua side finds the shared files (imei.paths): the installed share folder.
$(BUILD)/site.lua: FORCE
	@mkdir -p $(@D)
	@printf -- '-- generated by make install: where the shared files (policies/, data/) are\nreturn { sharedir = "%s", tree_sharedir = "%s", version = "%s" }\n' \
		'$(IMEI_SHAREDIR)' '$(IMEI_TREE_SHAREDIR)' '$(VERSION)' >$@.tmp
	@cmp -s $@.tmp $@ && rm -f $@.tmp || mv $@.tmp $@

install: install-lua install-bin install-share install-lib install-service

install-lua: build $(BUILD)/site.lua
	for f in $(LUA_FILES); do $(INSTALL) -D -m 644 lua/$$f $(D)$(LUA_LMOD)/$$f || exit 1; done
	$(INSTALL) -D -m 644 $(BUILD)/site.lua $(D)$(LUA_LMOD)/imei/site.lua
	$(INSTALL) -D -m 755 $(BUILD)/imei/core.so $(D)$(LUA_CMOD)/imei/core.so
	$(INSTALL) -D -m 755 $(BUILD)/imei/host.so $(D)$(LUA_CMOD)/imei/host.so
	$(INSTALL) -D -m 755 $(BUILD)/imei/exec.so $(D)$(LUA_CMOD)/imei/exec.so

install-bin: build
	$(INSTALL) -D -m 755 bin/imei $(D)$(BINDIR)/imei
	$(INSTALL) -D -m 755 $(BUILD)/imei-eird $(D)$(BINDIR)/imei-eird

install-share:
	for f in policies/*.lua data/*; do $(INSTALL) -D -m 644 $$f $(D)$(IMEI_SHAREDIR)/$$f || exit 1; done

install-lib: build
	$(INSTALL) -D -m 755 $(SHLIB) $(D)$(LIBDIR)/libimei.so.$(VERSION)
	ln -sf libimei.so.$(VERSION) $(D)$(LIBDIR)/libimei.so.$(MAJOR)
	ln -sf libimei.so.$(MAJOR) $(D)$(LIBDIR)/libimei.so
	$(INSTALL) -D -m 644 $(BUILD)/libimei.a $(D)$(LIBDIR)/libimei.a
	for h in $(PUBLIC_HEADERS); do $(INSTALL) -D -m 644 $$h $(D)$(INCLUDEDIR)/imei/$$(basename $$h) || exit 1; done
	@mkdir -p $(D)$(LIBDIR)/pkgconfig
	$(SUBST) dist/imei.pc.in >$(D)$(LIBDIR)/pkgconfig/imei.pc

install-service: man
	$(INSTALL) -D -m 644 $(BUILD)/man/imei.1 $(D)$(MANDIR)/man1/imei.1
	$(INSTALL) -D -m 644 $(BUILD)/man/imei-eird.1 $(D)$(MANDIR)/man1/imei-eird.1
	@mkdir -p $(D)$(UNITDIR) $(D)$(SYSCONFDIR)/imei
	$(SUBST) dist/imei-eird.service.in >$(D)$(UNITDIR)/imei-eird.service
	$(SUBST) dist/eird.conf.in >$(D)$(SYSCONFDIR)/imei/eird.conf

# The rock (make backend): Lua modules, imei.core, imei-eird, the CLI, policies and data,
# built in a folder of its own that is removed afterwards: nothing left in the tree.
install-rock: install-lua install-bin install-share
	rm -rf $(BUILD)

uninstall:
	rm -f $(D)$(BINDIR)/imei $(D)$(BINDIR)/imei-eird $(D)$(LIBDIR)/libimei.so* $(D)$(LIBDIR)/libimei.a \
		$(D)$(LIBDIR)/pkgconfig/imei.pc $(D)$(MANDIR)/man1/imei.1 $(D)$(MANDIR)/man1/imei-eird.1 \
		$(D)$(UNITDIR)/imei-eird.service
	rm -rf $(D)$(INCLUDEDIR)/imei $(D)$(LUA_LMOD)/imei $(D)$(LUA_CMOD)/imei $(D)$(IMEI_SHAREDIR)
	@echo "kept $(D)$(SYSCONFDIR)/imei (configuration)"

# Debian packages (debian/): built from a copy of the tree in $(BUILD)/deb, where the
# .deb files land (git-ignored, like all of $(BUILD)).
deb: deps-deb
	@BUILD=$(BUILD) dist/deb-build

# The whole suite; tests/run prints one closing line "N passed, N failed".
test: deps build $(CTEST_BIN) $(S13_MME) $(REDIS_TESTS)
	@BUILD=$(BUILD) LUA=$(LUA) tests/run

test-c: build $(CTEST_BIN)
	@BUILD=$(BUILD) tests/run c

test-lua: build
	@BUILD=$(BUILD) tests/run lua

test-fuzz: build
	@BUILD=$(BUILD) tests/run fuzz

test-serve: build
	@BUILD=$(BUILD) tests/run serve

test-redis: build $(REDIS_TESTS)
	@BUILD=$(BUILD) tests/run redis

test-s13: build $(S13_MME)
	@BUILD=$(BUILD) tests/run s13

test-install: build
	@BUILD=$(BUILD) tests/run install

# ASan+UBSan build in its own folder; the Lua interpreter is not instrumented,
# so the runtime is preloaded into it (tests/run does that when SANITIZE=1).
sanitize: deps
	$(MAKE) BUILD=build/sanitize CC=gcc OPT="-O1 -g -fno-omit-frame-pointer" \
		SAN="-fsanitize=address,undefined -fno-sanitize-recover=all" \
		build/sanitize/libimei_core.a build/sanitize/libimei.a build/sanitize/imei/core.so build/sanitize/imei/host.so \
		$(CTEST_SRC:tests/c/%.c=build/sanitize/tests/%) build/sanitize/imei-eird build/sanitize/imei/exec.so \
		build/sanitize/embed_example build/sanitize/tests/s13_mme build/sanitize/tests/redis_store
	@BUILD=build/sanitize SANITIZE=1 tests/run c lua serve s13 redis

fuzz: deps build
	@FUZZ_SECONDS=$(FUZZ_SECONDS) tests/fuzz/run

bench: deps build
	@BUILD=$(BUILD) bench/run

demo: deps build
	@BUILD=$(BUILD) ./demo.sh

# lint also checks the layers from the objects' symbols (tests/layers), so it builds first.
lint: deps build
	tests/layers $(BUILD)
	luacheck lua bin/imei tests/spec tests/fuzz/policy_fuzz.lua bench policies dist/man.lua
	cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability \
		--std=c11 --inline-suppr -Icore -Ibinding -Ihost -Itests/c core binding host server tests/c tests/s13 tests/fuzz tests/redis

rock:
	luarocks --lua-version 5.4 make --deps-mode=none --local imei-scm-1.rockspec

clean:
	rm -rf build .rockbuild
	rm -rf core/*.o binding/*.o host/*.o server/*.o imei/   # left by luarocks make (builtin backend builds in place)
