-- hang: bulk work inside a coroutine
local co = coroutine.wrap(function() while true do local s = string.rep("x", 1e6) end end)
co()
