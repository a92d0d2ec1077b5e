-- rockspec_spec.lua — the rockspec builds the same two C modules as the Makefile:
-- imei.core from core/*.c and binding/*.c (no host code in it), imei.host from those and
-- host/*.c. The Makefile takes the folders by wildcard; the rockspec lists every file.
local function c_files(dir)
  local out = {}
  local p = assert(io.popen("ls " .. dir .. "/*.c 2>/dev/null"))
  for line in p:lines() do out[#out + 1] = line end
  p:close()
  return out
end

local function set(list)
  local s = {}
  for _, v in ipairs(list) do s[v] = true end
  return s
end

describe("imei-scm-1.rockspec", function()
  local spec = {}
  assert(loadfile("imei-scm-1.rockspec", "t", spec))()
  local modules = spec.build.modules

  it("imei.core is core/ and binding/, all of them and nothing of host/", function()
    local want = {}
    for _, d in ipairs { "core", "binding" } do
      for _, f in ipairs(c_files(d)) do want[#want + 1] = f end
    end
    assert.same(set(want), set(modules["imei.core"].sources))
  end)

  it("imei.host is core/, binding/ and host/", function()
    local want = {}
    for _, d in ipairs { "core", "binding", "host" } do
      for _, f in ipairs(c_files(d)) do want[#want + 1] = f end
    end
    assert.same(set(want), set(modules["imei.host"].sources))
  end)

  it("names every Lua module file that exists under lua/", function()
    local listed = {}
    for _, v in pairs(modules) do
      if type(v) == "string" then listed[v] = true end
    end
    local p = assert(io.popen("find lua -name '*.lua' | sort"))
    for f in p:lines() do assert.is_true(listed[f] == true, f .. " is not in the rockspec") end
    p:close()
  end)
end)
