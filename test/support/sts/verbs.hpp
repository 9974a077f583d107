// The verbs of replagent-sts, each what kubectl (or the controller behind it) does to a set.
// Each returns the exit code; a failure that ends the command early exits through die().
#pragma once

#include <string>
#include <vector>

#include "test/support/sts/set.hpp"

namespace replagent::test::sts {

using Args = std::vector<std::string>;

int scale(const Set& set, const Args& args);
int delete_pod(const Set& set, const Args& args);
int status(const Set& set, const Args& args);
// psql or pgbench on the pod's socket as the superuser: replaces this process.
int pg_client(const Set& set, const std::string& tool, const Args& args);
int logs(const Set& set, const Args& args);
int env(const Set& set, const Args& args);
int set_env(const Set& set, const Args& args);
int empty_volume(const Set& set, const Args& args);
int down(const Set& set, const Args& args);

}  // namespace replagent::test::sts
