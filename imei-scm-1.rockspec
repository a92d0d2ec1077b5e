rockspec_format = "3.0"
package = "imei"
version = "scm-1"
source = {
  -- built from a checkout: luarocks --lua-version 5.4 make; then `luarocks pack imei`
  -- makes a binary rock of the installed one
  url = "git+file:///dev/null",
}
description = {
  summary = "A scriptable IMEI engine: fast identifier and TAC checks in C, EIR policies in Lua.",
  detailed = [[
imei parses and validates IMEI, IMEISV, 5G PEI, MEID and ESN identifiers, looks devices up
in a TAC database, runs operator and country EIR policies written in Lua, and serves them
as an N5g-eir Equipment Identity Check service (imei-eird, HTTP/2 and HTTP/1.1).
The rock installs the Lua modules, imei.core, the `imei` command, the `imei-eird` service,
the shipped policies and the sample TAC data.]],
  license = "MIT",
}
dependencies = {
  "lua >= 5.4",
  "lpeg",
  "lua-cjson",
  "argparse",
}
-- Every C library the build links (make: core, module, service).
external_dependencies = {
  NETTLE = { header = "nettle/sha1.h", library = "nettle" },   -- SHA-1 of MEID pseudo-ESNs
  LMDB = { header = "lmdb.h", library = "lmdb" },             -- the persistent sightings store
  ZLIB = { header = "zlib.h", library = "z" },                -- gzip operator dumps
  NGHTTP2 = { header = "nghttp2/nghttp2.h", library = "nghttp2" }, -- imei-eird: HTTP/2
  LIBEV = { header = "ev.h", library = "ev" },                -- imei-eird: event loops
  HTTP_PARSER = { header = "http_parser.h", library = "http_parser" }, -- imei-eird: HTTP/1.1
  FDCORE = { header = "freeDiameter/libfdcore.h", library = "fdcore" }, -- imei-eird: S13 (Diameter)
  FDPROTO = { header = "freeDiameter/libfdproto.h", library = "fdproto" }, -- imei-eird: S13 messages
  HIREDIS = { header = "hiredis/hiredis.h", library = "hiredis" }, -- the Redis sightings store
  OPENSSL = { header = "openssl/ssl.h", library = "ssl" },     -- TLS to Redis (rediss://): loaded at run time (core/tls_lib.c)
  CRYPTO = { header = "openssl/evp.h", library = "crypto" },   -- OpenSSL's crypto, for its TLS (loaded with libssl)
}
build = {
  -- The project's Makefile builds everything (docs/install.md); LuaRocks' directories are
  -- mapped onto its install variables. The build folder is removed by install-rock.
  type = "make",
  build_target = "build",
  install_target = "install-rock",
  variables = {
    BUILD = ".rockbuild",
    LUA = "$(LUA)",
    LUA_INC = "$(LUA_INCDIR)",
    EXT_CPPFLAGS = "-I$(NETTLE_INCDIR) -I$(LMDB_INCDIR) -I$(ZLIB_INCDIR) -I$(NGHTTP2_INCDIR) -I$(LIBEV_INCDIR) -I$(HTTP_PARSER_INCDIR) -I$(FDCORE_INCDIR) -I$(FDPROTO_INCDIR) -I$(HIREDIS_INCDIR) -I$(OPENSSL_INCDIR) -I$(CRYPTO_INCDIR)",
    EXT_LDFLAGS = "-L$(NETTLE_LIBDIR) -L$(LMDB_LIBDIR) -L$(ZLIB_LIBDIR) -L$(NGHTTP2_LIBDIR) -L$(LIBEV_LIBDIR) -L$(HTTP_PARSER_LIBDIR) -L$(FDCORE_LIBDIR) -L$(FDPROTO_LIBDIR) -L$(HIREDIS_LIBDIR) -L$(OPENSSL_LIBDIR) -L$(CRYPTO_LIBDIR)",
  },
  install_variables = {
    PREFIX = "$(PREFIX)",
    BINDIR = "$(BINDIR)",
    LUA_LMOD = "$(LUADIR)",
    LUA_CMOD = "$(LIBDIR)",
    IMEI_SHAREDIR = "$(PREFIX)/share/imei",
    IMEI_TREE_SHAREDIR = "lib/luarocks/rocks-5.4/imei/scm-1/share/imei",
  },
}
