-- hang: table.move over a huge range
return table.move({}, 1, 1 << 50, 2) ~= nil
