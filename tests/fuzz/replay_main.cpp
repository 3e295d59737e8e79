// SPDX-License-Identifier: BSD-3-Clause
// replay_main.cpp -- runs the fuzz target over stored inputs, without libFuzzer.
//
// With no arguments it replays every file of tests/fuzz/corpus/ and
// tests/fuzz/regressions/ under $VMEM_TEST_SRCDIR (or the current
// directory), other than README and KNOWN_FAILURES; with arguments, the
// files named.  Each input runs in a child process, so one failure does not
// hide the others, and each gives a TAP line: "ok N - corpus/NAME" or "not
// ok N - ... (killed by signal 6)".
//
// The corpus is there for coverage: its inputs run with the library bugs
// the harness knows of tolerated (VMEM_FUZZ_KNOWN_BUGS=tolerate), as the
// fuzzer runs them.  Regressions run strictly; those named in
// regressions/KNOWN_FAILURES (a bug not fixed yet) are reported with a TAP
// "# TODO" directive, so their failure is expected and their passing (once
// the bug is fixed) makes the test fail until the name is taken out.
#include <dirent.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

namespace {

// The regular files of `dir`, sorted, as "label/name" -> path pairs.
void list_inputs(const std::string &dir, const std::string &label,
		 std::vector<std::pair<std::string, std::string>> &out)
{
	DIR *d = opendir(dir.c_str());
	if (d == nullptr)
		return;
	std::vector<std::string> names;
	while (struct dirent *e = readdir(d)) {
		std::string name = e->d_name;
		if (name[0] == '.' || name.rfind("README", 0) == 0 || name == "KNOWN_FAILURES")
			continue;
		names.push_back(name);
	}
	closedir(d);
	std::sort(names.begin(), names.end());
	for (const std::string &name : names)
		out.emplace_back(label + "/" + name, dir + "/" + name);
}

bool read_file(const std::string &path, std::vector<uint8_t> &data)
{
	FILE *f = fopen(path.c_str(), "rb");
	if (f == nullptr)
		return false;
	uint8_t buf[4096];
	size_t n;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		data.insert(data.end(), buf, buf + n);
	bool ok = !ferror(f);
	fclose(f);
	return ok;
}

// The first word of each line of `path` that is not a comment.
std::vector<std::string> read_names(const std::string &path)
{
	std::vector<std::string> names;
	FILE *f = fopen(path.c_str(), "r");
	if (f == nullptr)
		return names;
	char line[512];
	while (fgets(line, sizeof(line), f) != nullptr) {
		char name[512];
		if (line[0] != '#' && sscanf(line, "%511s", name) == 1)
			names.emplace_back(name);
	}
	fclose(f);
	return names;
}

// Runs one input in a child; empty on success, else what went wrong.
std::string replay(const std::string &path, bool tolerate_known_bugs)
{
	std::vector<uint8_t> data;
	if (!read_file(path, data))
		return "cannot read " + path;
	fflush(stdout);
	pid_t pid = fork();
	if (pid < 0)
		return "fork failed";
	if (pid == 0) {
		if (tolerate_known_bugs)
			setenv("VMEM_FUZZ_KNOWN_BUGS", "tolerate", 1);
		else
			unsetenv("VMEM_FUZZ_KNOWN_BUGS");
		LLVMFuzzerTestOneInput(data.data(), data.size());
		_exit(0);
	}
	int status;
	while (waitpid(pid, &status, 0) < 0)
		;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return "";
	char why[64];
	if (WIFSIGNALED(status))
		snprintf(why, sizeof(why), "killed by signal %d", WTERMSIG(status));
	else
		snprintf(why, sizeof(why), "exit status %d", WEXITSTATUS(status));
	return why;
}

} // namespace

int main(int argc, char **argv)
{
	std::vector<std::pair<std::string, std::string>> inputs;
	std::vector<std::string> known;
	bool named = argc > 1;
	if (named) {
		// as the environment says: strict unless VMEM_FUZZ_KNOWN_BUGS=tolerate
		for (int i = 1; i < argc; i++)
			inputs.emplace_back(argv[i], argv[i]);
	} else {
		const char *srcdir = getenv("VMEM_TEST_SRCDIR");
		std::string fuzz = std::string(srcdir != nullptr ? srcdir : ".") + "/tests/fuzz";
		list_inputs(fuzz + "/corpus", "corpus", inputs);
		list_inputs(fuzz + "/regressions", "regressions", inputs);
		for (const std::string &name : read_names(fuzz + "/regressions/KNOWN_FAILURES"))
			known.push_back("regressions/" + name);
	}
	const char *env = getenv("VMEM_FUZZ_KNOWN_BUGS");
	bool env_tolerates = env != nullptr && strcmp(env, "tolerate") == 0;
	if (inputs.empty()) {
		printf("1..0 # SKIP no inputs found under $VMEM_TEST_SRCDIR/tests/fuzz\n");
		return 77;
	}
	printf("1..%zu\n", inputs.size());
	int failed = 0;
	for (size_t i = 0; i < inputs.size(); i++) {
		const std::string &label = inputs[i].first;
		bool tolerate = named ? env_tolerates : label.rfind("corpus/", 0) == 0;
		bool expected_to_fail = std::find(known.begin(), known.end(), label) != known.end();
		// a known failure may need threads to meet: up to twenty tries
		// (a timing-dependent one that fails half the time then passes
		// all of them once in a million runs)
		std::string why = replay(inputs[i].second, tolerate);
		for (int again = 1; expected_to_fail && why.empty() && again < 20; again++)
			why = replay(inputs[i].second, tolerate);
		const char *todo = expected_to_fail ? " # TODO known library bug, see KNOWN_FAILURES" : "";
		if (why.empty())
			printf("ok %zu - %s%s\n", i + 1, label.c_str(), todo);
		else
			printf("not ok %zu - %s (%s)%s\n", i + 1, label.c_str(), why.c_str(), todo);
		if (why.empty() == expected_to_fail)
			failed++;
	}
	return failed == 0 ? 0 : 1;
}
