--[[
cli_filter.lua: sbatch runs a job in its best renewable window, found by the desert data-center
twin (`twin slurm`, asking a running `twin serve`).

Install (see README.md beside this file): slurm.conf `CliFilterPlugins=cli_filter/lua`, and this
file as `cli_filter.lua` in the directory of slurm.conf on every submit host, with `twin`
installed there. Slurm's cli_filter runs inside sbatch, as the user, before the job is sent.

A job asks for a window through its environment; jobs without TWIN_IT_POWER_MW or TWIN_GPUS are
left alone:

  TWIN_IT_POWER_MW=2 TWIN_DEADLINE="$(date -u -d '+2 days' +%F)" sbatch --time=6:00:00 job.sh

  TWIN_IT_POWER_MW | TWIN_GPUS (+ TWIN_GPU_MODEL)   the job's IT power, or its GPUs
  TWIN_DEADLINE        the job must end by then: ISO 8601, UTC unless a zone is given
  TWIN_HOURS           run time in whole hours (default: --time, rounded up to hours)
  TWIN_EARLIEST        not before (default: now)
  TWIN_SITES           allowed sites, comma separated (default: every mapped site)
  TWIN_OBJECTIVE       carbon (default) | grid_energy | cost
  TWIN_HOLD=1          hold the window on the service (needs TWIN_API_KEY)
  TWIN_URL, TWIN_API_KEY, TWIN_SLURM_PARTITIONS   read by `twin slurm` itself

The filter sets --begin and --deadline (as Slurm's zone-free uts<Unix time>, so the shell's time
zone does not matter), --time, --time-min where the window ends at the deadline, --partition and
--clusters from TWIN_SLURM_PARTITIONS, and --comment=twin-reservation:ID with TWIN_HOLD. When the
twin cannot place the job (too big, deadline too close, service down), sbatch refuses with the
twin's reason. Interruptible jobs run in several blocks, one job each: submit them with
`twin slurm --interruptible ... | sh -s job.sh` instead.
--]]

-- the admin's settings; the user's environment wins where it sets them
local TWIN_COMMAND = os.getenv("TWIN_COMMAND") or "twin"
local DEFAULT_URL = nil  -- e.g. "http://twin.example.org:8000"; nil: TWIN_URL or compute here

local function quote(text)
	return "'" .. string.gsub(text, "'", "'\\''") .. "'"
end

-- the `twin slurm` command line for this job; nil when the job asks for no window, or nil and
-- the reason when it asks wrongly
local function twin_command(options)
	local env = os.getenv
	local args = { "slurm", "--format", "options" }
	local function add(option, value)
		table.insert(args, option)
		if value then
			table.insert(args, quote(value))
		end
	end

	if env("TWIN_IT_POWER_MW") then
		add("--it-power-mw", env("TWIN_IT_POWER_MW"))
	elseif env("TWIN_GPUS") then
		add("--gpus", env("TWIN_GPUS"))
		if env("TWIN_GPU_MODEL") then
			add("--gpu-model", env("TWIN_GPU_MODEL"))
		end
	else
		return nil
	end
	if not env("TWIN_DEADLINE") then
		return nil, "TWIN_DEADLINE is not set: when must the job end?"
	end
	add("--deadline", env("TWIN_DEADLINE"))
	local hours = env("TWIN_HOURS")
	if not hours then
		local time = options["time"]
		local minutes = nil
		if time and time ~= "UNLIMITED" then
			minutes = slurm.time_str2mins(time)
		end
		if not minutes or minutes <= 0 then
			return nil, "give the run time as --time (or TWIN_HOURS)"
		end
		hours = tostring(math.ceil(minutes / 60))
	end
	add("--hours", hours)
	if env("TWIN_EARLIEST") then
		add("--earliest", env("TWIN_EARLIEST"))
	end
	for site in string.gmatch(env("TWIN_SITES") or "", "[^,%s]+") do
		add("--site", site)
	end
	if env("TWIN_OBJECTIVE") then
		add("--objective", env("TWIN_OBJECTIVE"))
	end
	if not env("TWIN_URL") and DEFAULT_URL then
		add("--url", DEFAULT_URL)
	end
	local hold = string.lower(env("TWIN_HOLD") or "")
	if hold == "1" or hold == "yes" or hold == "true" then
		add("--hold")
	end
	return TWIN_COMMAND .. " " .. table.concat(args, " ")
end

function slurm_cli_setup_defaults(options, early_pass)
	return slurm.SUCCESS
end

function slurm_cli_pre_submit(options, offset)
	if options["type"] ~= "sbatch" or (offset and offset > 0) then
		return slurm.SUCCESS
	end
	local command, problem = twin_command(options)
	if problem then
		slurm.log_error("twin: %s", problem)
		return slurm.ERROR
	end
	if not command then
		return slurm.SUCCESS
	end
	-- Lua 5.1 cannot read a child's exit status: the shell appends it
	local pipe = io.popen(command .. " 2>&1; echo twin-exit=$?")
	local answer = pipe:read("*a")
	pipe:close()
	local status = tonumber(string.match(answer, "twin%-exit=(%d+)%s*$"))
	if status ~= 0 then
		local reason = string.gsub(answer, "%s*twin%-exit=%d+%s*$", "")
		slurm.log_error("twin slurm found no window: %s", reason)
		return slurm.ERROR
	end
	for line in string.gmatch(answer, "[^\n]+") do
		local name, value = string.match(line, "^([%w%-]+)=(.*)$")
		if string.sub(line, 1, 1) == "#" then
			slurm.log_info("%s", line)
		elseif name and name ~= "twin-exit" then
			options[name] = value
		end
	end
	return slurm.SUCCESS
end

function slurm_cli_post_submit(offset, job_id, step_id)
	return slurm.SUCCESS
end
