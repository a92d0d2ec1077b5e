--- imei.engine — the EIR engine for Lua hosts (the engine itself is C: host/engine.c).
--
--   local engine = assert(imei.engine.new {
--     policy = "policies/example-country.lua",
--     tacdb  = "data/osmocom-tacdb.csv",     -- a db, a compiled image or a text file
--     lists  = "lists/",                     -- a lists object or a folder of CSV lists
--     store  = "memory",                     -- a store object or "memory" | "lmdb:PATH"
--     limits = { memory = 64 << 20, instructions = 1e6,  -- per check (loads: load_instructions)
--                deadline_ms = 50, load_deadline_ms = 2000,  -- wall-clock limits of a check, a load
--                rebuild_failures = 64 },                    -- failed checks before a fresh state
--     quiet  = false,                        -- true: drop the policy's print/log output
--   })
--   local verdict = engine:check { pei = "imei-490154203237518", imsi = "410010000000001" }
--   verdict.status --> "WHITELISTED" | "GREYLISTED" | "BLACKLISTED" | "UNKNOWN"
local core = require "imei.core"
local host = require "imei.host"

local engine = {}

local OPTION_NAMES = {
  policy = true, tacdb = true, lists = true, store = true, limits = true, on_error = true,
  record = true, lua_path = true, skip_examples = true, quiet = true, allow_missing_lists = true,
}

--- The data an engine reads, from an object or a path. Shared with imei classify.
-- open_tacdb: a db object, a compiled image or a GSMA/Osmocom text file;
-- open_lists: a lists object or a folder of CSV lists; open_store: a store or a spec.
-- Each returns the object, or nil and a message naming what failed.
function engine.open_tacdb(spec)
  if type(spec) ~= "string" then return spec end
  local tacdb = require "imei.tacdb"
  local db, err = tacdb.open(spec)
  if db then return db end
  local loaded, load_err = tacdb.load(spec)
  if loaded then return loaded end
  return nil, ("tacdb %s: %s"):format(spec, tostring(load_err or err))
end

function engine.open_lists(spec)
  if type(spec) ~= "string" then return spec end
  local lists, err = core.lists_load_dir(spec)
  if not lists then return nil, "lists: " .. tostring(err) end
  return lists
end

function engine.open_store(spec)
  if type(spec) ~= "string" then return spec end
  local store, err = require("imei.sightings").open(spec)
  if not store then return nil, "store: " .. tostring(err) end
  return store
end

--- engine.new(opts) → engine, or nil and a message naming the file, line and reason.
function engine.new(opts)
  if type(opts) ~= "table" then error("imei.engine.new expects a table of options", 2) end
  for key in pairs(opts) do
    if not OPTION_NAMES[key] then error(("imei.engine.new: unknown option '%s'"):format(tostring(key)), 2) end
  end
  if type(opts.policy) ~= "string" then error("imei.engine.new: 'policy' (a file path) is required", 2) end
  local limits = opts.limits or {}
  local tacdb, lists, store, err
  if opts.tacdb then
    tacdb, err = engine.open_tacdb(opts.tacdb)
    if not tacdb then return nil, err end
  end
  if opts.lists then
    lists, err = engine.open_lists(opts.lists)
    if not lists then return nil, err end
  end
  if opts.store then
    store, err = engine.open_store(opts.store)
    if not store then return nil, err end
  end
  return host.engine_new {
    policy = opts.policy, tacdb = tacdb, lists = lists, store = store,
    on_error = opts.on_error, record = opts.record, skip_examples = opts.skip_examples,
    allow_missing_lists = opts.allow_missing_lists,
    lua_path = opts.lua_path or package.path,
    memory = limits.memory, instructions = limits.instructions, load_instructions = limits.load_instructions,
    deadline_us = limits.deadline_ms and math.floor(limits.deadline_ms * 1000),
    load_deadline_us = limits.load_deadline_ms and math.floor(limits.load_deadline_ms * 1000),
    rebuild_failures = limits.rebuild_failures, quiet = opts.quiet,
  }
end

return engine
