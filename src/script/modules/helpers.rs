//! The helpers oxc's lowering of legacy decorators imports, as TypeScript's
//! own `__decorate`, `__param` and `__metadata` (tslib) define them.

/// The ES module for `@oxc-project/runtime/<helper>`, if sockscope has it.
pub(crate) fn source(helper: &str) -> Option<&'static str> {
    Some(match helper {
        "helpers/decorate" => {
            "export default function decorate(decorators, target, key, desc) {\n\
             var c = arguments.length, r = c < 3 ? target : desc === null ? desc = Object.getOwnPropertyDescriptor(target, key) : desc, d;\n\
             for (var i = decorators.length - 1; i >= 0; i--) if (d = decorators[i]) r = (c < 3 ? d(r) : c > 3 ? d(target, key, r) : d(target, key)) || r;\n\
             return c > 3 && r && Object.defineProperty(target, key, r), r;\n\
             }\n"
        }
        "helpers/decorateParam" => {
            "export default function decorateParam(index, decorator) {\n\
             return function (target, key) { decorator(target, key, index); };\n\
             }\n"
        }
        "helpers/decorateMetadata" => {
            "export default function decorateMetadata(key, value) {\n\
             return function () {};\n\
             }\n"
        }
        _ => return None,
    })
}
