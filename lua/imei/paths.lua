--- imei.paths — where the shared files are: the shipped policies and sample data.
--
-- One rule for every way of running imei (a checkout, `make install`, the rock, the
-- Debian packages):
--   policies: beside the policy that asks, then each folder of $IMEI_POLICY_PATH
--             (colon-separated), then SHARE/policies;
--   data:     the path as given (relative to the working directory), then each folder of
--             $IMEI_DATA_PATH, then SHARE/data;
-- where SHARE is what `make install` wrote into imei.site (IMEI_SHAREDIR, e.g.
-- /usr/share/imei or the rock's own share/imei; a binary rock installed into another
-- tree finds it relative to that tree, site.tree_sharedir), else the checkout this
-- file is in.
local paths = {}

local _, here = ... -- the file require loaded this module from (Lua 5.4)
local open, getenv = io.open, os.getenv

local function exists(path)
  local f = open(path, "rb")
  if f then f:close() end
  return f ~= nil
end
paths.exists = exists

--- The share folder (policies/, data/ inside it), or nil when none is found.
function paths.sharedir()
  local ok, site = pcall(require, "imei.site")
  if ok and type(site) == "table" then
    if type(site.sharedir) == "string" and exists(site.sharedir .. "/policies/baseline.lua") then
      return site.sharedir
    end
    local tree = type(here) == "string" and here:match("^(.*)/share/lua/5%.4/imei/paths%.lua$")
    if tree and type(site.tree_sharedir) == "string" then
      local moved = tree .. "/" .. site.tree_sharedir
      if exists(moved .. "/policies/baseline.lua") then return moved end
    end
    if type(site.sharedir) == "string" then return site.sharedir end
  end
  local root = type(here) == "string" and here:match("^(.*)/lua/imei/paths%.lua$")
  if root and exists(root .. "/policies/baseline.lua") then return root end
  return nil
end

local function split(list)
  local out = {}
  for dir in (list or ""):gmatch("[^:]+") do out[#out + 1] = dir end
  return out
end

--- The folders searched after the asking policy's own, in order.
function paths.policy_dirs()
  local dirs = split(getenv("IMEI_POLICY_PATH"))
  local share = paths.sharedir()
  if share then dirs[#dirs + 1] = share .. "/policies" end
  return dirs
end

--- The data folders searched after the working directory, in order.
function paths.data_dirs()
  local dirs = split(getenv("IMEI_DATA_PATH"))
  local share = paths.sharedir()
  if share then dirs[#dirs + 1] = share .. "/data" end
  return dirs
end

--- The first existing of dir/name over dirs, or nil and the places looked in.
function paths.search(name, dirs)
  local tried = {}
  for _, dir in ipairs(dirs) do
    local candidate = dir .. "/" .. name
    if exists(candidate) then return candidate end
    tried[#tried + 1] = candidate
  end
  return nil, tried
end

--- A shipped data file (e.g. "osmocom-tacdb.csv"): "data/NAME" in the working directory
-- (a checkout), then the data folders. nil and the places looked in when absent.
function paths.data(name)
  if exists("data/" .. name) then return "data/" .. name end
  return paths.search(name, paths.data_dirs())
end

return paths
