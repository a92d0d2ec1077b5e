-- layers_spec.lua — imei.core holds the data objects only; the host (engine, replay, OS
-- helpers) is the separate module imei.host, and the two share their objects.
-- (That a policy cannot reach the host is shown on the sandbox itself: tests/c/test_layers.c.)
local core = require "imei.core"
local host = require "imei.host"

local HOST_NAMES = {
  "engine_new", "replay_new", "_budgeted_string", "signals_catch", "signals_restore", "signals_caught",
  "signals_block", "signals_reraise", "isatty", "monotime", "getpid", "ncpu", "fsync", "fsync_files", "fsync_start",
  "sort_strings", "durable_rename", "mkdir", "rmdir", "listdir", "file_size", "lock_dir",
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
    local stolen = assert(core.list_load_string("imei\n352099001761481\n", "stolen"))
    local lists = assert(core.lists_new { stolen })
    local store = assert(core.sightings_open("memory"))
    local e, err = host.engine_new { policy = "policies/baseline.lua", lists = lists, store = store,
                                     lua_path = package.path }
    assert.is_truthy(e, err)
    -- the same verdict as through imei.engine, which builds its objects itself
    local v = e:check { pei = "490154203237518", imsi = "001010000000001" }
    local e2 = assert(require("imei.engine").new { policy = "policies/baseline.lua", store = "memory", lists = lists })
    local v2 = e2:check { pei = "490154203237518", imsi = "001010000000001" }
    assert.equal(v2.status, v.status)
    assert.equal("WHITELISTED", v.status)
  end)
end)

describe("one rule, one place: classify's early checks are the replay's C rules", function()
  local dumps = require "imei.classify.dumps"
  it("dates", function()
    assert.is_true(dumps.valid_date("20240229"))
    assert.is_false(dumps.valid_date("20230229"))
    assert.is_false(dumps.valid_date("20231301"))
    assert.is_true(host.dump_date_ok("2024-02-29"))
    assert.equal(dumps.valid_date, host.dump_date_ok)
  end)
  it("operator names, file name or --operator alike, as the replay refuses them", function()
    assert.truthy(dumps.describe("x.csv", ("a"):rep(64)))
    local d, err = dumps.describe("x.csv", ("a"):rep(65))
    assert.is_nil(d)
    assert.matches("use letters", err, 1, true)
    d, err = dumps.describe(("b"):rep(65) .. "_R_20260101_20260131.csv")
    assert.is_nil(d)
    assert.matches("from the file name", err, 1, true)
    assert.is_false(host.operator_ok("a b"))
    assert.is_false(host.operator_ok("a\0b"))
    local r = assert(host.replay_new { store = assert(core.sightings_open("memory")) })
    local idx, aerr = r:add_file("x.csv", ("a"):rep(65))
    assert.is_nil(idx)
    assert.matches("use 1 to 64 letters", aerr, 1, true)
    r:close()
  end)
end)
