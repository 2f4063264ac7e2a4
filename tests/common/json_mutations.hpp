// Structure-aware mutations of a JSON document for robustness tests: every node of the tree, in
// turn, given a value of every other JSON type, and every member or element removed. What a
// decoder must survive is exactly this: the right document with one value of the wrong shape.
#pragma once

#include <cctype>
#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace llmgate::testing {
namespace type_swap_detail {

using nlohmann::json;

/// A value put in place of a node, named as descriptions name it.
struct Replacement {
  const char* shape;
  json value;
};

/// One value of each shape. Empty and non-empty containers count as different shapes: code that
/// reads `.front()` of a list it assumed non-empty fails only on the empty one.
inline const std::vector<Replacement>& replacements() {
  static const std::vector<Replacement> all{
      {"null", json(nullptr)},
      {"boolean", json(true)},
      {"number", json(7)},
      {"float", json(1.5)},
      {"string", json("x")},
      {"empty array", json::array()},
      {"empty object", json::object()},
      {"array", json::array({1})},
      {"object", json::object({{"k", 1}})},
  };
  return all;
}

/// The shape of `value`, in the names of replacements().
inline std::string_view shapeOf(const json& value) {
  switch (value.type()) {
    case json::value_t::null: return "null";
    case json::value_t::boolean: return "boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned: return "number";
    case json::value_t::number_float: return "float";
    case json::value_t::string: return "string";
    case json::value_t::array: return value.empty() ? "empty array" : "array";
    case json::value_t::object: return value.empty() ? "empty object" : "object";
    case json::value_t::binary:
    case json::value_t::discarded: break;
  }
  return "other";
}

/// Where a node sits: the root, a member of an object or an element of an array.
struct Node {
  enum class Place { Root, Member, Element };
  Place place = Place::Root;
  json::json_pointer parent;
  std::string key;
  std::size_t index = 0;
  std::string path;        ///< as descriptions name it: messages[0].content[1].text
  std::string_view shape;  ///< of the node's value in the document
};

/// `parent.key`, or `parent["key"]` for keys that are not plain words; members of the root
/// (`$`) are named by their key alone.
inline std::string memberPath(const std::string& parent, const std::string& key) {
  const std::string base = parent == "$" ? std::string() : parent;
  bool plain = !key.empty();
  for (unsigned char c : key) plain = plain && (std::isalnum(c) || c == '_' || c == '-' || c == '$');
  if (!plain) return base + "[" + json(key).dump() + "]";
  return base.empty() ? key : base + "." + key;
}

/// Every node under `value` (itself included), parents before children, members in key order.
inline void collectNodes(const json& value, Node here, const json::json_pointer& pointer, std::vector<Node>& out) {
  here.shape = shapeOf(value);
  const std::string path = here.path;
  out.push_back(std::move(here));
  if (value.is_object()) {
    for (const auto& [key, child] : value.items()) {
      collectNodes(child, Node{Node::Place::Member, pointer, key, 0, memberPath(path, key), {}}, pointer / key, out);
    }
  } else if (value.is_array()) {
    for (std::size_t i = 0; i < value.size(); ++i) {
      collectNodes(value[i], Node{Node::Place::Element, pointer, {}, i, path + "[" + std::to_string(i) + "]", {}},
                   pointer / i, out);
    }
  }
}

inline std::vector<Node> nodesOf(const json& document) {
  std::vector<Node> nodes;
  collectNodes(document, Node{Node::Place::Root, json::json_pointer(), {}, 0, "$", {}}, json::json_pointer(), nodes);
  return nodes;
}

/// The node's value inside `document` (a copy of the one the node was collected from).
inline json& valueAt(json& document, const Node& node) {
  if (node.place == Node::Place::Member) return document[node.parent][node.key];
  if (node.place == Node::Place::Element) return document[node.parent][node.index];
  return document;
}

inline void removeNode(json& document, const Node& node) {
  json& parent = document[node.parent];
  if (node.place == Node::Place::Member) {
    parent.erase(node.key);
  } else {
    parent.erase(node.index);
  }
}

}  // namespace type_swap_detail

/// Calls `visit` once per mutant of `document`, in a fixed order (the nodes depth first, parents
/// before children, object members in key order): for every node, the root included, a copy of
/// the document with that node's value replaced by each shape it does not have (null, true, 7,
/// 1.5, "x", [], {}, [1], {"k":1}), then, for members and elements, a copy with the node deleted.
/// `description` names the node and the change: `messages[0].content[1].text -> number`,
/// `messages[0].name deleted`; the root is `$`.
inline void forEachTypeSwap(const nlohmann::json& document,
                            const std::function<void(const nlohmann::json& mutant, const std::string& description)>& visit) {
  using namespace type_swap_detail;
  for (const Node& node : nodesOf(document)) {
    for (const Replacement& replacement : replacements()) {
      if (replacement.shape == node.shape) continue;
      json mutant = document;
      valueAt(mutant, node) = replacement.value;
      visit(mutant, node.path + " -> " + replacement.shape);
    }
    if (node.place != Node::Place::Root) {
      json mutant = document;
      removeNode(mutant, node);
      visit(mutant, node.path + " deleted");
    }
  }
}

/// Turns `document` into one of its mutants, chosen by `choice` (any number: it wraps around):
/// for fuzzers, which want one random mutant at a time rather than all of them.
inline void applyTypeSwap(nlohmann::json& document, std::size_t choice) {
  using namespace type_swap_detail;
  const std::vector<Node> nodes = nodesOf(document);
  const Node& node = nodes[choice % nodes.size()];
  const std::size_t variants = replacements().size() + 1;  // every shape, or deletion
  const std::size_t variant = choice / nodes.size() % variants;
  if (variant == replacements().size()) {
    if (node.place == Node::Place::Root) {
      document = nullptr;
    } else {
      removeNode(document, node);
    }
    return;
  }
  valueAt(document, node) = replacements()[variant].value;
}

/// How many mutants forEachTypeSwap gives for `document`.
inline std::size_t countTypeSwaps(const nlohmann::json& document) {
  using namespace type_swap_detail;
  std::size_t count = 0;
  for (const Node& node : nodesOf(document)) {
    for (const Replacement& replacement : replacements()) count += replacement.shape == node.shape ? 0 : 1;
    if (node.place != Node::Place::Root) ++count;
  }
  return count;
}

}  // namespace llmgate::testing
