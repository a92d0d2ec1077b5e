-- crash: recursion through a C function (gsub calling back)
local function f() return string.gsub("x", "x", f) end
return f() ~= nil
