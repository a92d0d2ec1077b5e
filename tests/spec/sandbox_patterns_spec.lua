-- sandbox_patterns_spec.lua — the budgeted pattern functions of the policy sandbox
-- (docs/sandbox.md), through the test hook imei.host._budgeted_string(steps): the same
-- results and errors as string.*, and a budget that stops catastrophic patterns and that
-- pcall cannot swallow.
local host = require "imei.host"

local BUDGET_ERROR = "pattern matching budget exceeded"

-- all results of a call, or the error message
local function outcome(f, ...)
  return table.pack(pcall(f, ...))
end

local function gmatch_all(gmatch, s, p, init)
  local out = {}
  for a, b, c in gmatch(s, p, init) do
    out[#out + 1] = { a, b, c }
    if #out > 100 then break end
  end
  return out
end

describe("imei.host._budgeted_string", function()
  it("returns budgeted find, match, gmatch, gsub and the budget's controls", function()
    local B = host._budgeted_string(1000)
    for _, name in ipairs { "find", "match", "gmatch", "gsub", "remaining", "refill" } do
      assert.is_function(B[name], name)
    end
    assert.same({ 1000, false }, { B.remaining() })
    assert.has_error(function() host._budgeted_string("lots") end)
  end)

  it("gives the results of string.* on policy-like cases", function()
    local B = host._budgeted_string(1e9)
    local cases = {
      { "find", "358240051111110", "^35%d%d%d%d%d%d" },
      { "match", "358240051111110", "^35%d%d%d%d%d%d$" },
      { "match", "imei-490154203237518", "^imei%-(%d+)$" },
      { "match", "  key = value  ", "^%s*(%w+)%s*=%s*(%w+)%s*$" },
      { "find", "hello world", "o w", 1, true },
      { "find", "hello world", "o", -3 },
      { "find", "hello", "", 10 },
      { "find", "hello", "", 6 },
      { "match", "hello", "()ll()" },
      { "match", "THE (quick) fox", "%f[%a]%a+", 5 },
      { "match", "f(a(b)c)d", "%b()" },
      { "match", "xyzzy", "(.)%1" },
      { "gsub", "35-209900-176148-1", "[%s%-]", "" },
      { "gsub", "hello world", "(o)", "[%1]", 1 },
      { "gsub", "hello world", "%w+", { hello = "HI", world = false } },
      { "gsub", "abc", "%w", function(c) return c:byte() end },
      { "gsub", "abc", "", "-" },
      { "gsub", "hello", "^h", "H" },
    }
    for _, c in ipairs(cases) do
      local name = c[1]
      assert.same(outcome(string[name], table.unpack(c, 2)), outcome(B[name], table.unpack(c, 2)),
                  name .. " " .. c[3])
    end
    assert.same(gmatch_all(string.gmatch, "a=1, b=2", "(%w+)=(%w+)"),
                gmatch_all(B.gmatch, "a=1, b=2", "(%w+)=(%w+)"))
    assert.same(gmatch_all(string.gmatch, "hello world from lua", "%a+", 7),
                gmatch_all(B.gmatch, "hello world from lua", "%a+", 7))
    assert.same(gmatch_all(string.gmatch, "^a^a", "^a"), gmatch_all(B.gmatch, "^a^a", "^a"))
    assert.same(gmatch_all(string.gmatch, "abc", ""), gmatch_all(B.gmatch, "abc", ""))
  end)

  it("raises the same errors as string.* for malformed patterns", function()
    local B = host._budgeted_string(1e9)
    local bad = {
      { "find", "a", "%" }, { "find", "a", "[a" }, { "match", "a", "(" }, { "match", "a", ")" },
      { "match", "a", "%1" }, { "find", "a", "%b" }, { "find", "a", "%fa" },
      { "match", "a", ("()"):rep(33) }, { "gsub", "abc", "(%w)", "%2" },
      { "gsub", "abc", "%w", "%x" }, { "gsub", "abc", "%w", function() return {} end },
      { "match", ("a"):rep(300), ("a?"):rep(300) },
    }
    for _, c in ipairs(bad) do
      local name = c[1]
      local want = outcome(string[name], table.unpack(c, 2))
      assert.is_false(want[1])
      assert.same(want, outcome(B[name], table.unpack(c, 2)), name .. " " .. c[3])
    end
    local ok, err = pcall(string.find, "a", "[a")
    assert.is_false(ok)
    assert.equal("malformed pattern (missing ']')", err)
  end)

  it("charges the budget and stops a catastrophic pattern with a clear error", function()
    local B = host._budgeted_string(1e6)
    B.find("hello world", "o%sw")
    local left, exceeded = B.remaining()
    assert.is_true(left < 1e6)
    assert.is_false(exceeded)
    local ok, err = pcall(B.find, ("a"):rep(1e5), (".-"):rep(10) .. "b")
    assert.is_false(ok)
    assert.equal(BUDGET_ERROR, err)
    left, exceeded = B.remaining()
    assert.is_true(left <= 0)
    assert.is_true(exceeded)
  end)

  it("stops catastrophic gmatch and gsub the same way", function()
    local B = host._budgeted_string(1e6)
    assert.has_error(function() for _ in B.gmatch(("a"):rep(1e5), ".-.-.-b") do end end, nil)
    B.refill(1e6)
    local ok, err = pcall(B.gsub, ("a"):rep(1e5), ".-.-.-b", "")
    assert.is_false(ok)
    assert.matches(BUDGET_ERROR, err, 1, true)
  end)

  it("cannot be swallowed by pcall: every later call raises until refilled", function()
    local B = host._budgeted_string(1e6)
    local it = B.gmatch("one two", "%a+")
    assert.equal("one", it())
    pcall(B.match, ("a"):rep(1e5), (".-"):rep(10) .. "b")
    for _, f in ipairs { function() return B.find("a", "a") end,
                         function() return B.match("a", ".") end,
                         function() return B.gsub("a", "a", "b") end,
                         function() return B.gmatch("a", ".") end,
                         function() return it() end } do
      local ok, err = pcall(f)
      assert.is_false(ok)
      assert.matches(BUDGET_ERROR, err, 1, true)
    end
    -- a gsub callback that swallows the error does not let gsub go on
    B.refill(1e6)
    local ok, err = pcall(B.gsub, "abc", ".", function(c)
      pcall(B.find, ("a"):rep(1e5), (".-"):rep(10) .. "b")
      return c
    end)
    assert.is_false(ok)
    assert.matches(BUDGET_ERROR, err, 1, true)
    -- re-armed by the host
    B.refill(1000)
    assert.equal(2, (B.find("abc", "b")))
    assert.equal("two", it())
  end)

  it("keeps the budget alive for an iterator that outlives its table", function()
    local it = host._budgeted_string(1e6).gmatch("one two three", "%a+")
    collectgarbage()
    collectgarbage()
    assert.equal("one", it())
    assert.equal("two", it())
    assert.equal("three", it())
    assert.is_nil(it())
  end)
end)
