-- layers_spec.lua — imei.core holds the data objects only; the host (engine, replay, OS
-- helpers) is the separate module imei.host, and the two share their objects.
-- (That a policy cannot reach the host is shown on the sandbox itself: tests/c/test_layers.c.)
local core = require "imei.core"
local host = require "imei.host"

local HOST_NAMES = {
  "engine_new", "replay_new", "_budgeted_string", "signals_catch", "signals_restore", "signals_caught",
  "signals_block", "signals_reraise", "isatty", "monotime", "getpid", "ncpu", "fsync", "durable_rename",
  "mkdir", "rmdir", "listdir", "file_size", "lock_dir",
}

describe("imei.core and imei.host", function()
  it("imei.core has none of the host's functions, imei.host has them all", function()
    for _, name in ipairs(HOST_NAMES) do
      assert.is_nil(core[name], "imei.core." .. name)
      assert.equal("function", type(host[name]), "imei.host." .. name)
    end
  end)

  it("imei.host has no data-object functions of its own", function()
    for _, name in ipairs { "parse", "valid", "list_load", "lists_load_dir", "tacdb_open", "sightings_open" } do
      assert.equal("function", type(core[name]), "imei.core." .. name)
      assert.is_nil(host[name], "imei.host." .. name)
    end
  end)

  it("objects made by imei.core are taken by imei.host", function()
    local lists = assert(core.lists_new {})
    local store = assert(core.sightings_open("memory"))
    local e, err = host.engine_new { policy = "policies/baseline.lua", lists = lists, store = store,
                                     lua_path = package.path }
    assert.is_truthy(e, err)
    -- the same verdict as through imei.engine, which builds its objects itself
    local v = e:check { pei = "490154203237518", imsi = "001010000000001" }
    local e2 = assert(require("imei.engine").new { policy = "policies/baseline.lua", store = "memory" })
    local v2 = e2:check { pei = "490154203237518", imsi = "001010000000001" }
    assert.equal(v2.status, v.status)
    assert.equal("WHITELISTED", v.status)
  end)
end)
