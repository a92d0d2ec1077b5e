-- docs/policies.md runs: every example in the policy author's guide is executed, in order,
-- in a folder of its own, as the page says at its top:
--   ```lua file=NAME [expect=fail]  written to NAME (a later block of the same name replaces it)
--   ```csv file=NAME                written to NAME
--   ```lua append=NAME              added to NAME before its final `return P`
--   ```lua snippet                  the body of a policy of its own, which must load
--   ```console                      each `$ imei …` line is run there; the lines under it must
--                                   appear in its output, in order (`…` = any text, runs of
--                                   blanks count as one)
--   ```text                         not code: shown, not run
-- At the end each policy file must pass `imei policy test`, and each one marked
-- expect=fail must fail it. A block of any other kind fails the spec: nothing on the page
-- can escape the tests by its tag.
local support = require "support"

local DOC = "docs/policies.md"

local function blocks_of(path)
  local blocks, current, lineno = {}, nil, 0
  for line in (support.read(path) .. "\n"):gmatch("([^\n]*)\n") do
    lineno = lineno + 1
    if current then
      if line:match("^```%s*$") then
        blocks[#blocks + 1] = current
        current = nil
      else
        current.lines[#current.lines + 1] = line
      end
    else
      local lang, info = line:match("^```(%S*)%s*(.-)%s*$")
      if lang then
        current = { lang = lang, info = info, line = lineno, lines = {}, attrs = {} }
        for key, value in info:gmatch("(%w+)=(%S+)") do current.attrs[key] = value end
        if info:match("^snippet") then current.snippet = true end
      end
    end
  end
  assert(not current, DOC .. ": a code block opened at line " .. (current and current.line or 0) .. " is not closed")
  return blocks
end

-- A line of expected output as a pattern: `…` is any text; blanks collapse.
local function squeeze(s)
  return (s:gsub("%s+", " "):gsub("^ ", ""):gsub(" $", ""))
end

local function pattern_of(expected)
  local parts = {}
  for piece in (squeeze(expected) .. "…"):gmatch("(.-)…") do parts[#parts + 1] = piece:gsub("%p", "%%%0") end
  return "^" .. table.concat(parts, ".-") .. "$"
end

-- The expected lines must appear in the output's lines in order; nil or what is missing.
local function missing_line(expected, output)
  local actual = {}
  for line in (output .. "\n"):gmatch("([^\n]*)\n") do actual[#actual + 1] = squeeze(line) end
  local at = 1
  for _, want in ipairs(expected) do
    local pattern, found = pattern_of(want), false
    while at <= #actual and not found do
      found = actual[at]:match(pattern) ~= nil
      at = at + 1
    end
    if not found then return want end
  end
  return nil
end

describe(DOC, function()
  local pwd = assert(io.popen("pwd"))
  local root = pwd:read("l")
  pwd:close()
  local dir, files, failing

  local function sh(command)
    local script = support.write(dir .. "/.cmd.sh",
      ("cd '%s' && PATH='%s/.bin':\"$PATH\" IMEI_POLICY_PATH='%s/policies' %s\n"):format(dir, dir, root, command))
    local p = assert(io.popen("sh '" .. script .. "' 2>&1"))
    local out = p:read("a")
    local _, _, code = p:close()
    return out, code
  end

  local function write(name, text)
    assert(not name:find("..", 1, true) and not name:match("^/"), "a file of the page escapes its folder: " .. name)
    local sub = name:match("^(.*)/[^/]*$")
    if sub then assert(os.execute("mkdir -p '" .. dir .. "/" .. sub .. "'")) end
    support.write(dir .. "/" .. name, text)
  end

  setup(function()
    dir = support.tmpdir()
    assert(os.execute("mkdir -p '" .. dir .. "/.bin'"))
    support.write(dir .. "/.bin/imei", ("#!/bin/sh\nexec lua5.4 '%s/bin/imei' \"$@\"\n"):format(root))
    assert(os.execute("chmod +x '" .. dir .. "/.bin/imei'"))
    files, failing = {}, {}
  end)
  teardown(function() support.cleanup() end)

  it("has only code blocks of the kinds the tests run, and runs each in order", function()
    local blocks = blocks_of(DOC)
    assert.is_true(#blocks > 10)
    local counts = { file = 0, append = 0, snippet = 0, console = 0 }
    for i, b in ipairs(blocks) do
      local where = ("%s:%d (a %s block)"):format(DOC, b.line, b.lang)
      local text = table.concat(b.lines, "\n") .. "\n"
      if (b.lang == "lua" or b.lang == "csv") and b.attrs.file then
        write(b.attrs.file, text)
        if b.lang == "lua" then
          files[b.attrs.file] = where
          failing[b.attrs.file] = b.attrs.expect == "fail" or nil
        end
        counts.file = counts.file + 1
      elseif b.lang == "lua" and b.attrs.append then
        local old = support.read(dir .. "/" .. b.attrs.append)
        assert(old, where .. ": appends to " .. b.attrs.append .. ", which no block before it wrote")
        local head = old:match("^(.*\n)return P\n$")
        assert(head, where .. ": " .. b.attrs.append .. " does not end in `return P`")
        write(b.attrs.append, head .. text .. "return P\n")
        counts.append = counts.append + 1
      elseif b.lang == "lua" and b.snippet then
        local name = ("snippet-%d.lua"):format(i)
        write(name, 'local P = policy.new { name = "snippet", version = "1" }\n' .. text .. "return P\n")
        local out, code = sh("imei policy lint " .. name)
        assert(code ~= 2, where .. ": the snippet does not load:\n" .. out)
        counts.snippet = counts.snippet + 1
      elseif b.lang == "console" then
        local commands = {}
        for _, line in ipairs(b.lines) do
          local command = line:match("^%$ (.*)$")
          if command then
            assert(command:match("^imei "), where .. ": a command of the page runs imei, not: " .. command)
            commands[#commands + 1] = { command = command, expected = {} }
          else
            assert(#commands > 0, where .. ": output before the first command")
            local expected = commands[#commands].expected
            if line:match("%S") then expected[#expected + 1] = line end
          end
        end
        assert(#commands > 0, where .. ": no command")
        for _, c in ipairs(commands) do
          local out = sh(c.command)
          local missing = missing_line(c.expected, out)
          assert(missing == nil, ("%s: `%s` did not print\n  %s\nIt printed:\n%s"):format(where, c.command,
            tostring(missing), out))
        end
        counts.console = counts.console + 1
      elseif b.lang ~= "text" then
        error(where .. ": a code block the tests do not run (tag it as the top of this spec says)")
      end
    end
    for kind, n in pairs(counts) do assert(n > 0, "no block of kind " .. kind .. " ran") end
  end)

  it("has policies that pass their tests, and fail where the page says they do", function()
    local names = {}
    for name in pairs(files) do names[#names + 1] = name end
    table.sort(names)
    assert.is_true(#names > 3)
    for _, name in ipairs(names) do
      local out, code = sh("imei policy test " .. name)
      if failing[name] then
        assert(code ~= 0, files[name] .. ": " .. name .. " is marked expect=fail, and passes:\n" .. out)
      else
        assert(code == 0, files[name] .. ": " .. name .. " fails its test:\n" .. out)
      end
    end
  end)
end)
