-- cli_interrupt_spec.lua — a Ctrl-C that reaches lua5.4's own handler (while the modules
-- load, or before a command puts its handler in place) stops bin/imei as a Ctrl-C stops
-- a program: one line on standard error, death by SIGINT; never "internal error" with a
-- stack trace. lua5.4 turns the signal into the error "interrupted!" at the next Lua
-- instruction; LUA_INIT raises that very error at a chosen place, so the test does not
-- depend on when a signal lands.

local function quote(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

-- Run bin/imei with LUA_INIT set; its output (stdout and stderr) and how it ended.
local function run(init, args)
  local cmd = "LUA_INIT=" .. quote(init) .. " bin/imei " .. args .. " 2>&1"
  local p = assert(io.popen(cmd, "r"))
  local out = p:read("a")
  local _, how, code = p:close()
  return out, how, code
end

-- `sh -c` reports a child killed by signal N as exit 128 + N
local function died_of_sigint(how, code)
  return (how == "signal" and code == 2) or (how == "exit" and code == 130)
end

describe("a Ctrl-C caught by lua5.4's handler", function()
  it("while a command's module loads: a line, then death by SIGINT", function()
    local out, how, code = run([[package.preload["imei.cli.inspect"] = function() error("interrupted!") end]],
      "inspect 490154203237518")
    assert.is_true(died_of_sigint(how, code), ("ended by %s %s: %s"):format(how, code, out))
    assert.matches("imei: interrupted (SIGINT): stopped", out, 1, true)
    assert.not_matches("internal error", out, 1, true)
    assert.not_matches("stack traceback", out, 1, true)
  end)

  it("while a command runs: the command named, then death by SIGINT", function()
    local out, how, code = run([[package.preload["imei.cli.inspect"] = function()
        return { configure = function(c) c:argument("pei"):args("*") end,
                 run = function() error("interrupted!") end }
      end]], "inspect 490154203237518")
    assert.is_true(died_of_sigint(how, code), ("ended by %s %s: %s"):format(how, code, out))
    assert.matches("imei inspect: interrupted (SIGINT): stopped", out, 1, true)
    assert.not_matches("internal error", out, 1, true)
    assert.not_matches("stack traceback", out, 1, true)
  end)

  it("another error is still an internal error, with its trace", function()
    local out, how, code = run([[package.preload["imei.cli.inspect"] = function()
        return { configure = function(c) c:argument("pei"):args("*") end,
                 run = function() error("something broke") end }
      end]], "inspect 490154203237518")
    assert.equal("exit", how)
    assert.equal(2, code)
    assert.matches("imei inspect: internal error: .*something broke", out)
    assert.matches("stack traceback", out, 1, true)
  end)
end)
