--- Helpers shared by the specs: temporary folders and files, running the CLI.
local support = {}

local counter = 0

--- A fresh empty folder under /tmp; removed by support.cleanup().
function support.tmpdir()
  counter = counter + 1
  local path = ("%s-%d-%d"):format(os.tmpname(), counter, math.random(1 << 30))
  os.remove(path) -- os.tmpname creates the file
  assert(os.execute("mkdir -p '" .. path .. "'"))
  support.created = support.created or {}
  support.created[#support.created + 1] = path
  return path
end

function support.cleanup()
  for _, path in ipairs(support.created or {}) do os.execute("rm -rf '" .. path .. "'") end
  support.created = {}
end

function support.write(path, text)
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
  return path
end

function support.read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local text = f:read("a")
  f:close()
  return text
end

--- Run bin/imei with arguments (a shell-quoted string); returns stdout, stderr, exit code.
function support.imei(args, stdin)
  local dir = support.tmpdir()
  local input = stdin and support.write(dir .. "/stdin", stdin) or "/dev/null"
  local cmd = ("bin/imei %s <'%s' >'%s/out' 2>'%s/err'"):format(args, input, dir, dir)
  local _, _, code = os.execute(cmd)
  return support.read(dir .. "/out"), support.read(dir .. "/err"), code
end

--- A policy file from the body of its conditions; returns its path.
function support.policy(dir, name, text)
  return support.write(dir .. "/" .. name, text)
end

return support
