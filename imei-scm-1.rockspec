rockspec_format = "3.0"
package = "imei"
version = "scm-1"
source = {
  url = "git+file:///dev/null", -- built from a checkout: luarocks --lua-version 5.4 make
}
description = {
  summary = "A scriptable IMEI engine: fast identifier and TAC checks in C, EIR policies in Lua.",
  detailed = [[
imei parses and validates IMEI, IMEISV, 5G PEI, MEID and ESN identifiers, looks devices up
in a TAC database, and runs operator and country EIR policies written in Lua.]],
  license = "MIT",
}
dependencies = {
  "lua >= 5.4",
  "lpeg",
  "lua-cjson",
  "argparse",
}
external_dependencies = {
  NETTLE = { header = "nettle/sha1.h", library = "nettle" },
  LMDB = { header = "lmdb.h", library = "lmdb" },
  ZLIB = { header = "zlib.h", library = "z" },
}
build = {
  type = "builtin",
  modules = {
    ["imei"] = "lua/imei/init.lua",
    ["imei.cli"] = "lua/imei/cli/init.lua",
    ["imei.cli.inspect"] = "lua/imei/cli/inspect.lua",
    ["imei.cli.serve"] = "lua/imei/cli/serve.lua",
    -- `imei serve` execs the service (build/imei-eird, built by make) through this
    ["imei.exec"] = { sources = { "server/lua_exec.c" } },
    ["imei.cli.tac"] = "lua/imei/cli/tac.lua",
    ["imei.tacdb"] = "lua/imei/tacdb.lua",
    ["imei.tacdb.dsv"] = "lua/imei/tacdb/dsv.lua",
    ["imei.tacdb.gsma"] = "lua/imei/tacdb/gsma.lua",
    ["imei.tacdb.osmocom"] = "lua/imei/tacdb/osmocom.lua",
    ["imei.tacdb.report"] = "lua/imei/tacdb/report.lua",
    ["imei.tacdb.rows"] = "lua/imei/tacdb/rows.lua",
    ["imei.cli.check"] = "lua/imei/cli/check.lua",
    ["imei.cli.policy"] = "lua/imei/cli/policy.lua",
    ["imei.cli.util"] = "lua/imei/cli/util.lua",
    ["imei.engine"] = "lua/imei/engine.lua",
    ["imei.policy"] = "lua/imei/policy/init.lua",
    ["imei.policy.runtime"] = "lua/imei/policy/runtime.lua",
    ["imei.policy.duplicates"] = "lua/imei/policy/duplicates.lua",
    ["imei.sightings"] = "lua/imei/sightings.lua",
    ["imei.classify"] = "lua/imei/classify/init.lua",
    ["imei.classify.dumps"] = "lua/imei/classify/dumps.lua",
    ["imei.classify.lists"] = "lua/imei/classify/lists.lua",
    ["imei.classify.progress"] = "lua/imei/classify/progress.lua",
    ["imei.classify.report"] = "lua/imei/classify/report.lua",
    ["imei.classify.text"] = "lua/imei/classify/text.lua",
    ["imei.gen"] = "lua/imei/gen.lua",
    ["imei.cli.classify"] = "lua/imei/cli/classify.lua",
    ["imei.cli.gen"] = "lua/imei/cli/gen.lua",
    ["imei.core"] = {
      sources = {
        "core/bulk.c",
        "core/csv.c",
        "core/dump_reader.c",
        "core/engine.c",
        "core/identity.c",
        "core/list.c",
        "core/lists.c",
        "core/luhn.c",
        "core/meid.c",
        "core/mobile_identity.c",
        "core/rbi.c",
        "core/replay.c",
        "core/sandbox.c",
        "core/sandbox_patterns.c",
        "core/sightings.c",
        "core/sightings_agg.c",
        "core/sightings_codec.c",
        "core/sightings_lmdb.c",
        "core/sightings_mem.c",
        "core/sightings_wire.c",
        "core/tac_bands.c",
        "core/tac_builder.c",
        "core/tac_freeze.c",
        "core/tac_image.c",
        "core/tac_intern.c",
        "core/tac_lookup.c",
        "core/u64set.c",
        "core/lua_batchio.c",
        "core/lua_bulk.c",
        "core/lua_engine.c",
        "core/lua_identity.c",
        "core/lua_imei.c",
        "core/lua_lists.c",
        "core/lua_mobile_identity.c",
        "core/lua_replay.c",
        "core/lua_sandbox_patterns.c",
        "core/lua_sightings.c",
        "core/lua_tacdb.c",
      },
      defines = { "_DEFAULT_SOURCE" },
      incdirs = { "core", "$(NETTLE_INCDIR)", "$(LMDB_INCDIR)", "$(ZLIB_INCDIR)" },
      libdirs = { "$(NETTLE_LIBDIR)", "$(LMDB_LIBDIR)", "$(ZLIB_LIBDIR)" },
      libraries = { "nettle", "lmdb", "z", "pthread" },
    },
  },
  install = {
    bin = { imei = "bin/imei" },
  },
}
