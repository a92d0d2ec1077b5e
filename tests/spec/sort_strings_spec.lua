-- sort_strings_spec.lua — host.sort_strings (host/lua_sort.c): the strings of a list in
-- the order table.sort gives them (Lua's < on strings, lua5.4 in the C locale), in place.
local host = require "imei.host"

local function copy(t) return table.move(t, 1, #t, 1, {}) end

describe("host.sort_strings", function()
  it("gives table.sort's order: prefixes, NUL inside, bytes above 127, the empty string", function()
    math.randomseed(7)
    local alphabet = { "\0", "\1", "0", "1", "9", "A", "a", "|", "\127", "\128", "\255" }
    for round = 1, 50 do
      local t, seen = {}, {}
      for _ = 1, 200 + round do
        local parts = {}
        for k = 1, math.random(0, 6) do parts[k] = alphabet[math.random(#alphabet)] end
        local s = table.concat(parts)
        if not seen[s] then -- equal strings are one value either way; keep them apart
          seen[s] = true
          t[#t + 1] = s
        end
      end
      t[#t + 1] = ("x"):rep(100) .. "\0" .. round -- long strings too
      t[#t + 1] = ("x"):rep(100)
      local want = copy(t)
      table.sort(want)
      host.sort_strings(t)
      assert.same(want, t)
    end
  end)

  it("sorts a national list's IMEIs and NUL-joined keys as table.sort does", function()
    local t = {}
    for i = 1, 20000 do t[i] = ("%015d"):format((i * 7919) % 1000003 * 1000000007 % 999999999999999) end
    for i = 1, 200 do t[#t + 1] = ("35%013d\0%015d\0"):format(i, 410010000000000 + i) end
    local want = copy(t)
    table.sort(want)
    host.sort_strings(t)
    assert.same(want, t)
  end)

  it("leaves a list of zero or one alone and refuses a value that is not a string", function()
    local t = {}
    host.sort_strings(t)
    assert.same({}, t)
    t = { "b" }
    host.sort_strings(t)
    assert.same({ "b" }, t)
    t = { "b", 1, "a" }
    assert.has_error(function() host.sort_strings(t) end, "sort_strings: value 2 is a number, not a string")
    assert.same({ "b", 1, "a" }, t) -- as it was
    assert.has_error(function() host.sort_strings("abc") end)
  end)
end)
