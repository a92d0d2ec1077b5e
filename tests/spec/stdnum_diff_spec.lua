-- stdnum_diff_spec.lua — differential test of imei.parse / imei.valid against python-stdnum
-- (stdnum.imei and stdnum.meid) on 120,000 generated identifiers.
--
-- A seeded generator builds valid IMEIs, wrong check digits, 14 and 16 digits (SVN 99 among
-- them), wrong lengths, separators ' ' and '-', letters, NUL bytes, PEI prefixes, Unicode
-- dashes, spaces and digits, MEIDs (hex and decimal, with and without CD) and ESNs.
-- tests/peers/stdnum_oracle.py prints stdnum's verdict per line.
--
-- Where both should agree they must agree exactly: IMEI validity, IMEI type (IMEI for 14/15
-- digits, IMEISV for 16) and normalised digits; for what we parse as a MEID, validity, the
-- 14 hex digits and the pESN. Every deliberate difference is a class of input, recognised
-- from the input alone; for each class the spec asserts the exact relation on every line and
-- that the number of lines where the verdicts differ is the number an independent reference
-- (the plain Luhn below) predicts:
--   pei          "imei-"/"imeisv-" prefixes (TS 29.571): accepted here, never by stdnum
--   unicode      non-ASCII dashes, spaces and digits: stdnum folds them to ASCII, we refuse
--                the byte (and name its position)
--   python_ws    \x1C-\x1F around the value: Python's str.strip() removes them, we do not
--   meid_low_rr  "MEIDs" whose regional code is below A0 (hex, or decimal forms that convert to
--                such hex): IMEI space to us, a MEID to stdnum
-- and two differences of kind only (no validity difference; stdnum.imei says None):
--   esn          8 hex or 11 decimal digits are an ESN here
--   meid         MEIDs (hex, or 18/19 decimal digits) are a MEID here
local imei = require "imei"

local ORACLE = "tests/peers/stdnum_oracle.py"
local PYTHON = "/usr/bin/python3"
local N = 120000

-- --- references (independent of the code under test) ----------------------------------

local function luhn_ok(d, base)
  base = base or 10
  local sum = 0
  for i = #d, 1, -1 do
    local v = tonumber(d:sub(i, i), base)
    if (#d - i) % 2 == 1 then
      v = v * 2
      v = v // base + v % base
    end
    sum = sum + v
  end
  return sum % base == 0
end

local function ascii_trim(s) return (s:gsub("^[ \t\r\n\v\f]+", ""):gsub("[ \t\r\n\v\f]+$", "")) end

-- What stdnum.imei.is_valid should say of a plain ASCII value.
local function ref_imei_valid(s)
  local d = ascii_trim(s):gsub("[ %-]", "")
  if not d:match("^%d+$") then return false end
  if #d == 15 then return luhn_ok(d) end
  return #d == 14 or #d == 16
end

-- The Unicode characters the generator uses, as stdnum folds them (stdnum.util._char_map).
local FOLD = {
  ["\u{2013}"] = "-", ["\u{2014}"] = "-", ["\u{2212}"] = "-", ["\u{2010}"] = "-",
  ["\u{00A0}"] = " ", ["\u{2009}"] = " ", ["\u{3000}"] = " ",
}
for d = 0, 9 do FOLD[utf8.char(0xFF10 + d)] = tostring(d) end
local UNICODE_SEPS = { "\u{2013}", "\u{2014}", "\u{2212}", "\u{2010}", "\u{00A0}", "\u{2009}", "\u{3000}" }

local function fold(s)
  return (s:gsub(utf8.charpattern, function(c) return FOLD[c] or c end))
end

-- --- the generator -----------------------------------------------------------------------

local function rng(seed)
  local x = seed
  return function(n)
    x = (x * 6364136223846793005 + 1442695040888963407) -- 64-bit LCG, wraps
    return ((x >> 33) % n)
  end
end

local function gen_all(n)
  local r = rng(20261128)
  local function digits(k)
    local t = {}
    for i = 1, k do t[i] = string.char(48 + r(10)) end
    return table.concat(t)
  end
  local function cd(body) -- the right Luhn digit, by trial with the reference
    for c = 0, 9 do if luhn_ok(body .. c) then return tostring(c) end end
  end
  local function pick(str)
    local j = r(#str) + 1
    return str:sub(j, j)
  end
  local function hexdigits(k)
    local t = {}
    for i = 1, k do
      local v = r(16)
      t[i] = ("0123456789ABCDEF"):sub(v + 1, v + 1)
    end
    return table.concat(t)
  end
  local function hex_cd(body)
    for c = 0, 15 do
      local ch = ("0123456789ABCDEF"):sub(c + 1, c + 1)
      if luhn_ok(body .. ch, 16) then return ch end
    end
  end
  local function separate(s, seps)
    local t = {}
    for i = 1, #s do
      if r(4) == 0 then t[#t + 1] = seps[r(#seps) + 1] end
      t[#t + 1] = s:sub(i, i)
    end
    if r(6) == 0 then t[#t + 1] = seps[r(#seps) + 1] end
    return table.concat(t)
  end
  local function imei_like()
    local k = r(100)
    if k < 45 then local b = digits(14); return b .. cd(b) end                       -- valid
    if k < 60 then local b = digits(14); return b .. ((cd(b) + 1 + r(9)) % 10) end   -- wrong CD
    if k < 72 then return digits(14) end                                             -- no CD
    if k < 80 then return digits(14) .. "99" end                                     -- SVN 99
    if k < 90 then return digits(16) end                                             -- IMEISV
    local len = ({ 1, 5, 9, 12, 13, 17, 20, 21, 8, 11, 18, 19 })[r(12) + 1]           -- other lengths
    return digits(len)
  end

  local out = {}
  for i = 1, n do
    local k = r(1000)
    local s
    if k < 600 then -- plain ASCII IMEIs, with separators and white space sometimes
      s = imei_like()
      if r(3) == 0 then s = separate(s, { " ", "-", "  ", "--", " - " }) end
      if r(10) == 0 then s = (" \t\v\f"):sub(1, r(4) + 1) .. s .. ("\t \r"):sub(1, r(3) + 1) end
    elseif k < 660 then -- letters in place of a digit, or added
      s = imei_like()
      local p = r(#s) + 1
      s = s:sub(1, p - 1) .. pick("AaBbCcDdEeFfGgXxZzIiOo") .. s:sub(p + r(2))
    elseif k < 680 then -- a NUL or other control byte inside
      s = imei_like()
      local p = r(#s) + 1
      s = s:sub(1, p - 1) .. string.char(({ 0, 1, 9, 27, 127 })[r(5) + 1]) .. s:sub(p)
    elseif k < 760 then -- PEI prefixes (TS 29.571), sometimes not matching the length
      local body = imei_like()
      local prefix = ({ "imei-", "imeisv-", "IMEI-", "Imeisv-" })[r(4) + 1]
      s = prefix .. (r(5) == 0 and separate(body, { "-" }) or body)
    elseif k < 840 then -- Unicode separators and digits
      s = imei_like()
      s = separate(s, UNICODE_SEPS)
      if r(3) == 0 then
        local p = r(#s) + 1
        local c = s:sub(p, p)
        if c:match("%d") then s = s:sub(1, p - 1) .. utf8.char(0xFF10 + tonumber(c)) .. s:sub(p + 1) end
      end
    elseif k < 850 then -- Python white space that is not ours
      s = string.char(0x1C + r(4)) .. imei_like() .. (r(2) == 0 and string.char(0x1C + r(4)) or "")
    elseif k < 940 then -- MEIDs
      local m = r(6)
      if m < 4 then
        local body = pick("ABCDEF") .. hexdigits(13) -- RR >= A0
        if m == 1 then body = body .. hex_cd(body) end
        if m == 2 then body = body .. pick("0123456789ABCDEF") end
        if m == 3 then body = body:lower() end
        s = r(3) == 0 and separate(body, { " ", "-" }) or body
      else -- decimal: 10 digits manufacturer (< 2^32), 8 digits serial (< 2^24)
        local dec = ("%010d%08d"):format(r(65536) * 65536 + r(65536), r(16777216))
        if r(20) == 0 then dec = "9" .. dec:sub(2) end -- often out of range
        if m == 5 then dec = dec .. (r(3) == 0 and tostring(r(10)) or cd(dec)) end
        s = r(3) == 0 and separate(dec, { " " }) or dec
      end
    elseif k < 960 then -- hex MEID shapes below RR A0
      local body = tostring(r(10)) .. hexdigits(12) .. pick("ABCDEF")
      if r(2) == 0 then body = body .. (r(4) == 0 and tostring(r(10)) or hex_cd(body)) end
      s = body
    else -- ESNs
      s = r(2) == 0 and hexdigits(8) or ("%03d%08d"):format(r(256), r(16777216))
    end
    out[i] = s
  end
  return out
end

-- --- running the oracle ------------------------------------------------------------------

local function oracle(lines)
  local inpath, outpath = os.tmpname(), os.tmpname()
  local f = assert(io.open(inpath, "wb"))
  f:write(table.concat(lines, "\n"), "\n")
  f:close()
  local ok, how, code = os.execute(("%s %s < %s > %s"):format(PYTHON, ORACLE, inpath, outpath))
  local res = {}
  for line in io.lines(outpath) do
    local v, t, c, mv, mh, mp = line:match("^([01])\t([^\t]+)\t([^\t]*)\t([01])\t([^\t]+)\t([^\t]+)$")
    res[#res + 1] = { valid = v == "1", type = t, compact = c, meid_valid = mv == "1", meid_hex = mh, pesn = mp }
  end
  os.remove(inpath)
  os.remove(outpath)
  return ok and how == "exit" and code == 0, res
end

-- 3GPP2 shapes: MEID = 14 hex digits with RR >= A0 (+ CD), or 18 decimal digits of a 32-bit
-- manufacturer code and a 24-bit serial (+ CD); ESN = 8 hex, or 3 + 8 decimal of 8 + 24 bits.
local function is_decimal_meid(c) -- any regional code
  return (#c == 18 or #c == 19) and c:match("^%d+$") ~= nil and tonumber(c:sub(1, 10)) < 2 ^ 32
    and tonumber(c:sub(11, 18)) < 2 ^ 24
end

local function is_meid_shape(c) -- RR >= A0: 0xA0000000 = 2684354560
  if (#c == 14 or #c == 15) and c:match("^%x+$") and c:sub(1, 1):match("[A-Fa-f]") then return true end
  return is_decimal_meid(c) and tonumber(c:sub(1, 10)) >= 2684354560
end

local function is_esn_shape(c)
  if #c == 8 then return c:match("^%x+$") ~= nil end
  return #c == 11 and c:match("^%d+$") ~= nil and tonumber(c:sub(1, 3)) < 256 and tonumber(c:sub(4)) < 2 ^ 24
end

-- --- classification of an input (its own bytes only) ---------------------------------

local function classify(s)
  if s:find("[\128-\255]") then return "unicode" end
  local t = ascii_trim(s)
  if t:find("^[\28-\31]") or t:find("[\28-\31]$") then return "python_ws" end
  local lower = t:lower()
  if lower:find("^imei%-") or lower:find("^imeisv%-") then return "pei" end
  local c = t:gsub("[ %-]", "")
  if (#c == 14 or #c == 15) and c:match("^%x+$") and c:find("%a") and c:sub(1, 1):match("%d") then
    return "meid_low_rr"
  end
  if is_decimal_meid(c) and tonumber(c:sub(1, 10)) < 2684354560 then return "meid_low_rr" end
  return "plain"
end

-- our IMEI type in stdnum's words
local function our_type(id)
  if not id then return "-" end
  if id.kind == "imei14" or (id.kind == "imei" and id.cd_ok) then return "IMEI" end
  if id.kind == "imeisv" then return "IMEISV" end
  return "-"
end

describe("differential test against python-stdnum", function()
  local lines, verdicts

  setup(function()
    local probe = io.popen(PYTHON .. " -c 'import stdnum.imei, stdnum.meid' 2>&1")
    local msg = probe:read("a")
    local present = probe:close()
    assert(present, "python3-stdnum is not installed (" .. (msg:match("([^\n]+)\n?$") or "?") ..
      "): run `make deps`")
    lines = gen_all(N)
    local ok
    ok, verdicts = oracle(lines)
    assert(ok, "the oracle " .. ORACLE .. " failed: python3-stdnum missing? run `make deps`")
    assert(#verdicts == #lines, ("the oracle gave %d verdicts for %d lines"):format(#verdicts, #lines))
  end)

  local stats = {}
  local function count(name, key)
    stats[name] = stats[name] or { lines = 0, differ = 0, expected = 0 }
    stats[name][key] = stats[name][key] + 1
  end

  local failures = {}
  -- record a failed expectation; the message is formatted only then
  local function expect(cond, i, fmt, ...)
    if not cond and #failures < 20 then
      failures[#failures + 1] = ("line %d %q: "):format(i, lines[i]) .. fmt:format(...)
    end
    return cond
  end

  it("agrees everywhere except in the listed classes, and differs there as predicted", function()
    assert.is_true(#lines >= 100000)
    for i, s in ipairs(lines) do
      local v = verdicts[i]
      local id, err = imei.parse(s)
      local valid = imei.valid(s)
      local class = classify(s)
      count(class, "lines")
      if class == "plain" then
        expect(valid == v.valid, i, "valid: ours %s, stdnum %s", valid, v.valid)
        expect(our_type(id) == v.type, i, "type: ours %s, stdnum %s", our_type(id), v.type)
        if v.valid then
          expect(id and id.digits == v.compact, i, "digits: ours %s, stdnum %s", id and id.digits, v.compact)
        end
        expect(v.valid == ref_imei_valid(s), i, "stdnum differs from the reference Luhn")
        local c = ascii_trim(s):gsub("[ %-]", "")
        if is_meid_shape(c) then count("meid", "expected") end
        if is_esn_shape(c) then count("esn", "expected") end
        if v.meid_valid and not c:match("^%d+$") then
          expect(id and id.kind == "meid", i, "stdnum.meid accepts what we do not take for a MEID")
        end
        if id and id.kind == "meid" then
          count("meid", "lines")
          count("meid", "differ") -- stdnum.imei says None, we say meid
          local ours_ok = id.cd_ok ~= false
          expect(ours_ok == v.meid_valid, i, "MEID validity: ours %s, stdnum %s", ours_ok, v.meid_valid)
          if v.meid_valid then
            expect(id.digits == v.meid_hex, i, "MEID hex: ours %s, stdnum %s", id.digits, v.meid_hex)
            expect(id.pesn == v.pesn, i, "pESN: ours %s, stdnum %s", id.pesn, v.pesn)
          end
        elseif id and id.kind == "esn" then
          count("esn", "lines")
          count("esn", "differ")
          expect(not v.valid and v.type == "-", i, "stdnum.imei accepts an ESN")
        end
      elseif class == "pei" then
        -- TS 29.571: imei-<15 digits>, imeisv-<16 digits>; stdnum knows no prefix
        local prefix, rest = ascii_trim(s):match("^(%a+%-)(.*)$")
        local want_len = prefix:lower() == "imei-" and 15 or 16
        local rest_digits = rest:gsub("[ %-]", "")
        local predicted = ref_imei_valid(rest) and #rest_digits == want_len
        expect(not v.valid, i, "stdnum accepts a PEI prefix")
        expect(valid == predicted, i, "PEI: ours %s, predicted %s (%s)", valid, predicted, err)
        if valid then count("pei", "differ") end
        if predicted then count("pei", "expected") end
      elseif class == "unicode" then
        -- stdnum folds Unicode dashes, spaces and digits to ASCII; we refuse the first such byte
        local first = s:find("[\128-\255]")
        expect(id == nil and err:match("position (%d+)$") == tostring(first), i,
          "non-ASCII accepted or wrong position: %s", err)
        expect(not valid, i, "non-ASCII valid")
        local predicted = ref_imei_valid(fold(s))
        expect(v.valid == predicted, i, "stdnum's folding is not what we think it is")
        if v.valid then count("unicode", "differ") end
        if predicted then count("unicode", "expected") end
      elseif class == "python_ws" then
        expect(id == nil and err:find("position", 1, true), i, "\\x1C-\\x1F accepted")
        local predicted = ref_imei_valid((s:gsub("^[\28-\31]+", ""):gsub("[\28-\31]+$", "")))
        expect(v.valid == predicted, i, "stdnum does not strip \\x1C-\\x1F")
        if v.valid then count("python_ws", "differ") end
        if predicted then count("python_ws", "expected") end
      elseif class == "meid_low_rr" then
        -- RR below A0 is IMEI space (3GPP2 S.R0048): in hex a letter there is an error for
        -- us, in decimal the whole value is; stdnum takes both for MEIDs
        local c = ascii_trim(s):gsub("[ %-]", ""):upper()
        local predicted
        if #c >= 18 then
          expect(id == nil and err:find("below A0", 1, true), i, "low-RR decimal MEID accepted: %s", err)
          predicted = #c == 18 or luhn_ok(c)
        else
          expect(id == nil and err:find("hex digit", 1, true), i, "low-RR hex accepted: %s", err)
          -- stdnum.meid checks a body of 14 decimal digits as an IMEI: a hex CD fails there
          predicted = not c:sub(1, 14):match("^%d+$") and (#c == 14 or luhn_ok(c, 16))
        end
        expect(v.meid_valid == predicted, i, "stdnum.meid differs from the hex Luhn")
        expect(not v.valid, i, "stdnum.imei accepts hex")
        if v.meid_valid then count("meid_low_rr", "differ") end
        if predicted then count("meid_low_rr", "expected") end
      end
    end
    assert.same({}, failures)

    -- each deliberate difference: exercised, and exactly as large as predicted
    local report = {}
    for _, name in ipairs { "pei", "unicode", "python_ws", "meid_low_rr", "esn", "meid" } do
      local st = stats[name] or { lines = 0, differ = 0, expected = 0 }
      report[#report + 1] = ("%s: %d lines, %d differ"):format(name, st.lines, st.differ)
      assert.is_true(st.differ > 100, name .. " was hardly exercised")
      assert.equal(st.expected, st.differ, name)
    end
    assert.is_true(stats.plain.lines > 70000)
    io.stderr:write("\nstdnum differences: plain ", stats.plain.lines, " lines agree; ",
      table.concat(report, "; "), "\n")
  end)
end)
