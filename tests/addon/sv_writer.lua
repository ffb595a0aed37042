-- Writes Lua values the way the game writes SavedVariables files: `["key"] = value,` entries,
-- one tab per nesting level, and array items followed by a `-- [n]` comment. Keys of the hash
-- part are sorted so the output is deterministic (the game uses table order instead).
--
-- Usage: local writer = dofile("sv_writer.lua"); writer.file({ PATTSyncDB = PATTSyncDB })

local M = {}

local format = string.format
local concat = table.concat

local ESCAPES = { ["\\"] = "\\\\", ['"'] = '\\"', ["\n"] = "\\n", ["\r"] = "\\r" }

local function QuoteString(text)
    -- Control characters become \ddd; bytes of 128 and above (UTF-8) are written as they are,
    -- which is how accented names appear in real files.
    local escaped = string.gsub(text, '[%c\\"]', function(char)
        return ESCAPES[char] or format("\\%03d", string.byte(char))
    end)
    return '"' .. escaped .. '"'
end
M.QuoteString = QuoteString

local function FormatNumber(value)
    if value == math.floor(value) and value > -2 ^ 53 and value < 2 ^ 53 then
        return format("%d", value)
    end
    return format("%.17g", value)
end

local function FormatKey(key)
    local kind = type(key)
    if kind == "string" then
        return "[" .. QuoteString(key) .. "]"
    elseif kind == "number" then
        return "[" .. FormatNumber(key) .. "]"
    elseif kind == "boolean" then
        return "[" .. tostring(key) .. "]"
    end
    error("cannot write a key of type " .. kind)
end

local function ArrayLength(tbl)
    local length = 0
    while tbl[length + 1] ~= nil do
        length = length + 1
    end
    return length
end

local function KeyOrder(a, b)
    local ta, tb = type(a), type(b)
    if ta ~= tb then
        return ta < tb
    end
    if ta == "boolean" then
        return (not a) and b
    end
    return a < b
end

local WriteValue

local function WriteTable(buffer, tbl, depth)
    buffer[#buffer + 1] = "{\n"
    local indent = string.rep("\t", depth + 1)
    local length = ArrayLength(tbl)
    for index = 1, length do
        buffer[#buffer + 1] = indent
        WriteValue(buffer, tbl[index], depth + 1)
        buffer[#buffer + 1] = ", -- [" .. index .. "]\n"
    end
    local keys = {}
    for key in pairs(tbl) do
        local isArrayKey = type(key) == "number" and key >= 1 and key <= length
            and key == math.floor(key)
        if not isArrayKey then
            keys[#keys + 1] = key
        end
    end
    table.sort(keys, KeyOrder)
    for _, key in ipairs(keys) do
        buffer[#buffer + 1] = indent .. FormatKey(key) .. " = "
        WriteValue(buffer, tbl[key], depth + 1)
        buffer[#buffer + 1] = ",\n"
    end
    buffer[#buffer + 1] = string.rep("\t", depth) .. "}"
end

WriteValue = function(buffer, value, depth)
    local kind = type(value)
    if kind == "table" then
        WriteTable(buffer, value, depth)
    elseif kind == "string" then
        buffer[#buffer + 1] = QuoteString(value)
    elseif kind == "number" then
        buffer[#buffer + 1] = FormatNumber(value)
    elseif kind == "boolean" or kind == "nil" then
        buffer[#buffer + 1] = tostring(value)
    else
        error("cannot write a value of type " .. kind)
    end
end

-- One value as text (tables span several lines).
function M.value(value)
    local buffer = {}
    WriteValue(buffer, value, 0)
    return concat(buffer)
end

-- A whole SavedVariables file: one `Name = value` assignment per entry of `variables`,
-- in name order, each preceded by a blank line as the game does.
function M.file(variables)
    local names = {}
    for name in pairs(variables) do
        names[#names + 1] = name
    end
    table.sort(names)
    local buffer = {}
    for _, name in ipairs(names) do
        buffer[#buffer + 1] = "\n" .. name .. " = "
        WriteValue(buffer, variables[name], 0)
        buffer[#buffer + 1] = "\n"
    end
    return concat(buffer)
end

return M
