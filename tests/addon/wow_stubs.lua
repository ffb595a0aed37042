-- Stand-ins for the parts of the World of Warcraft API that PATTSync uses, with state the
-- tests control, plus driver helpers (fire, advance, slash, open_guild_window).
-- Load this into a fresh Lua 5.1 state before the addon.

-- Test-controlled state ---------------------------------------------------------------------

FAKE_NOW = 1771699200            -- what time() returns (Unix seconds)
CHAT_LOG = {}                    -- every line the addon printed, in order
ROSTER_REQUESTS = 0              -- calls of C_GuildInfo.GuildRoster()
CAN_VIEW_OFFICER_NOTE = true
IN_GUILD = true
GUILD_NAME = "Pull All The Things"
REALM_NAME = "Sen'jin"
NORMALIZED_REALM_NAME = "Senjin"
-- One entry per member, with named fields that GetGuildRosterInfo returns in the game's
-- positional order; `lastOnline` = { years, months, days, hours }.
ROSTER = {}

local timers = {}                -- { due = seconds, seq = n, fn = function }
local timerSequence = 0
local frames = {}

-- Lua and game utility functions ------------------------------------------------------------

function time(t)
    if t ~= nil then
        return os.time(t)
    end
    return FAKE_NOW
end

date = os.date

-- The game's strsplit: splits on any character of `sep`, returns the pieces as values.
function strsplit(sep, text, limit)
    local pieces = {}
    local start = 1
    while true do
        if limit and #pieces == limit - 1 then
            pieces[#pieces + 1] = string.sub(text, start)
            break
        end
        local first, last = string.find(text, "[" .. sep:gsub("%p", "%%%0") .. "]", start)
        if not first then
            pieces[#pieces + 1] = string.sub(text, start)
            break
        end
        pieces[#pieces + 1] = string.sub(text, start, first - 1)
        start = last + 1
    end
    return unpack(pieces)
end

function strtrim(text)
    return (string.gsub(text, "^%s*(.-)%s*$", "%1"))
end

-- Frames --------------------------------------------------------------------------------------

local Frame = {}
Frame.__index = Frame

function Frame:RegisterEvent(event)
    self.events[event] = true
end

function Frame:UnregisterEvent(event)
    self.events[event] = nil
end

function Frame:SetScript(kind, fn)
    self.scripts[kind] = fn
end

function Frame:GetScript(kind)
    return self.scripts[kind]
end

function Frame:HookScript(kind, fn)
    local hooks = self.hooks[kind] or {}
    hooks[#hooks + 1] = fn
    self.hooks[kind] = hooks
end

function Frame:RunScript(kind, ...)
    if self.scripts[kind] then
        self.scripts[kind](self, ...)
    end
    for _, fn in ipairs(self.hooks[kind] or {}) do
        fn(self, ...)
    end
end

function Frame:Show()
    self.shown = true
    self:RunScript("OnShow")
end

function Frame:Hide()
    self.shown = false
end

function Frame:IsShown()
    return self.shown
end

local function NewFrame(kind, name)
    local frame = setmetatable({
        kind = kind, name = name, events = {}, scripts = {}, hooks = {}, shown = false,
    }, Frame)
    frames[#frames + 1] = frame
    return frame
end

function CreateFrame(kind, name)
    local frame = NewFrame(kind, name)
    if name then
        -- a named frame is a global in the game too; rawset so the globals check in the
        -- tests sees it through the before/after comparison, not as a stub write
        rawset(_G, name, frame)
    end
    return frame
end

-- Secure hooks, chat, timers ----------------------------------------------------------------

function hooksecurefunc(name, fn)
    local original = _G[name]
    assert(type(original) == "function", "hooksecurefunc: no global function " .. tostring(name))
    _G[name] = function(...)
        local results = { original(...) }
        fn(...)
        return unpack(results)
    end
end

DEFAULT_CHAT_FRAME = {
    AddMessage = function(_, message)
        CHAT_LOG[#CHAT_LOG + 1] = message
    end,
}

C_Timer = {
    After = function(seconds, fn)
        timerSequence = timerSequence + 1
        timers[#timers + 1] = { due = FAKE_NOW + seconds, seq = timerSequence, fn = fn }
    end,
}

function PENDING_TIMERS()
    return #timers
end

-- Guild API -----------------------------------------------------------------------------------

C_GuildInfo = {
    GuildRoster = function()
        -- the server answers later with GUILD_ROSTER_UPDATE; tests fire that themselves
        ROSTER_REQUESTS = ROSTER_REQUESTS + 1
    end,
    CanViewOfficerNote = function()
        return CAN_VIEW_OFFICER_NOTE
    end,
}

function IsInGuild()
    return IN_GUILD
end

function GetGuildInfo(unit)
    assert(unit == "player", "GetGuildInfo stub only knows the player")
    if not IN_GUILD then
        return nil
    end
    return GUILD_NAME, "Member", 3, REALM_NAME
end

function GetRealmName()
    return REALM_NAME
end

function GetNormalizedRealmName()
    return NORMALIZED_REALM_NAME
end

function GetNumGuildMembers()
    local online = 0
    for _, member in ipairs(ROSTER) do
        if member.isOnline then
            online = online + 1
        end
    end
    return #ROSTER, online, online
end

-- Same positional values as the game: name, rankName, rankIndex, level, class, zone, note,
-- officernote, online, status, classFileName, achievementPoints, achievementRank, isMobile,
-- canSoR, repStanding, guid.
function GetGuildRosterInfo(index)
    local m = ROSTER[index]
    if not m then
        return nil
    end
    return m.name, m.rankName, m.rankIndex, m.level, m.class, m.zone, m.note, m.officerNote,
        m.isOnline, m.status, m.classFile, m.achievementPoints, m.achievementRank, m.isMobile,
        false, 4, m.guid
end

function GetGuildRosterLastOnline(index)
    local m = ROSTER[index]
    if not m or not m.lastOnline then
        return nil
    end
    local lo = m.lastOnline
    return lo[1], lo[2], lo[3], lo[4]
end

SlashCmdList = {}

-- Blizzard_Communities is load-on-demand: CommunitiesFrame does not exist until the guild
-- window is opened for the first time (or a test calls LOAD_BLIZZARD_COMMUNITIES early).
function LOAD_BLIZZARD_COMMUNITIES()
    local frame = NewFrame("Frame", "CommunitiesFrame")
    rawset(_G, "CommunitiesFrame", frame)
    fire("ADDON_LOADED", "Blizzard_Communities")
end

-- Blizzard's function behind the J key: loads the Communities UI on first use, then
-- toggles it.
function ToggleGuildFrame()
    if not CommunitiesFrame then
        LOAD_BLIZZARD_COMMUNITIES()
    end
    if CommunitiesFrame:IsShown() then
        CommunitiesFrame:Hide()
    else
        CommunitiesFrame:Show()
    end
end

-- Driver helpers ----------------------------------------------------------------------------

-- Delivers an event to every frame that registered it, like the game does.
function fire(event, ...)
    for _, frame in ipairs(frames) do
        if frame.events[event] and frame.scripts.OnEvent then
            frame.scripts.OnEvent(frame, event, ...)
        end
    end
end

-- Moves the clock forward, running due timers in due order (timers they start run too).
function advance(seconds)
    local target = FAKE_NOW + seconds
    while true do
        local nextIndex
        for i, timer in ipairs(timers) do
            if timer.due <= target then
                local best = nextIndex and timers[nextIndex]
                if not best or timer.due < best.due or (timer.due == best.due and timer.seq < best.seq) then
                    nextIndex = i
                end
            end
        end
        if not nextIndex then
            break
        end
        local timer = table.remove(timers, nextIndex)
        if timer.due > FAKE_NOW then
            FAKE_NOW = timer.due
        end
        timer.fn()
    end
    FAKE_NOW = target
end

-- Runs a slash command the way the chat box does: finds the handler registered under
-- SLASH_<KEY>n and calls it with the rest of the line.
function slash(line)
    local command, rest = string.match(line, "^(%S+)%s*(.-)$")
    command = string.lower(command)
    for key, handler in pairs(SlashCmdList) do
        local n = 1
        while _G["SLASH_" .. key .. n] do
            if string.lower(_G["SLASH_" .. key .. n]) == command then
                handler(rest)
                return true
            end
            n = n + 1
        end
    end
    return false
end

-- What pressing J does: Blizzard's ToggleGuildFrame (and any hooks on it).
function open_guild_window()
    ToggleGuildFrame()
end

function close_guild_window()
    if CommunitiesFrame and CommunitiesFrame:IsShown() then
        CommunitiesFrame:Hide()
    end
end
