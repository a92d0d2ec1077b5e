-- rockspec_spec.lua — the rock is built by the Makefile (make backend), so it cannot list
-- a file the Makefile does not build: the rockspec names the Makefile's targets, maps
-- LuaRocks' folders onto its install variables, and declares every C library the Makefile
-- links. (tests/install builds the rock from a clean clone and checks what it installed.)
describe("imei-scm-1.rockspec", function()
  local spec = {}
  assert(loadfile("imei-scm-1.rockspec", "t", spec))()
  local build = spec.build
  local f = assert(io.open("Makefile"))
  local makefile = f:read("a")
  f:close()

  it("uses the make backend with targets the Makefile has", function()
    assert.equal("make", build.type)
    for _, target in ipairs { build.build_target, build.install_target } do
      assert.truthy(makefile:find("\n" .. target:gsub("%-", "%%-") .. ":"), target .. " is not a Makefile target")
    end
  end)

  it("installs into LuaRocks' folders", function()
    local iv = build.install_variables
    assert.equal("$(LUADIR)", iv.LUA_LMOD)
    assert.equal("$(LIBDIR)", iv.LUA_CMOD)
    assert.equal("$(BINDIR)", iv.BINDIR)
    assert.equal("$(PREFIX)", iv.PREFIX)
  end)

  it("declares every library the Makefile links, and passes their folders to make", function()
    local declared = {}
    for name, dep in pairs(spec.external_dependencies) do
      declared[dep.library] = name
    end
    local linked = {}
    for line in makefile:gmatch("[^\n]+") do
      if line:match("^[%u_]*LDLIBS[%u_]*%s*=") then
        for lib in line:gmatch("%-l([%w_]+)") do linked[lib] = true end
      end
    end
    assert.truthy(linked.nghttp2 and linked.nettle, "the Makefile's LDLIBS lines were not found")
    for lib in pairs(linked) do
      if lib ~= "lua5" and lib ~= "pthread" and lib ~= "m" and lib ~= "imei" then
        assert.is_truthy(declared[lib], "-l" .. lib .. " is not in external_dependencies")
        local name = declared[lib]
        assert.truthy(build.variables.EXT_CPPFLAGS:find("$(" .. name .. "_INCDIR)", 1, true), name)
        assert.truthy(build.variables.EXT_LDFLAGS:find("$(" .. name .. "_LIBDIR)", 1, true), name)
      end
    end
  end)
end)
