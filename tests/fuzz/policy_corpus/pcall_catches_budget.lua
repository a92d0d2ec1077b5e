-- hang: catching the budget error and going on
while true do pcall(string.rep, "", 1 << 62) end
