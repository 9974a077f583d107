#pragma once

// The reference of everything a user configures or observes: settings, environment, exit
// codes, sidecar endpoints, metrics. `replagent config --reference` prints it and
// docs/configuration.md is its committed copy (scripts/gen-reference writes it; the ctest
// reference_doc fails when the copy differs). It sits in the composition root (agent/cmd/) because
// it composes the layers: it reads the key table (agent/config), the exit codes (agent/errors), the
// sidecar's routes and a rendered metrics registry (probes/), so what it lists is what the code
// does.

#include <string>

namespace replagent::cmd {

// The whole document, in Markdown. Throws std::logic_error when the code has something the
// document has no words for (a key, an endpoint), naming it and where to describe it.
std::string reference_markdown();

}  // namespace replagent::cmd
