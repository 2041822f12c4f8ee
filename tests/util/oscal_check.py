"""Loads OSCAL documents with compliance-trestle's models, which refuse a document that does
not match the OSCAL schema (missing or unknown fields, bad UUIDs, ids or dates).

Usage: oscal_check.py KIND=PATH ...  (KIND: assessment-results, assessment-plan,
component-definition). Prints one JSON line of counts; exits non-zero on the first refusal.
"""

import json
import pathlib
import sys

import trestle
from trestle.oscal.assessment_plan import AssessmentPlan
from trestle.oscal.assessment_results import AssessmentResults
from trestle.oscal.component import ComponentDefinition

MODELS = {
    "assessment-results": AssessmentResults,
    "assessment-plan": AssessmentPlan,
    "component-definition": ComponentDefinition,
}

summary = {"trestle": trestle.__version__}
for argument in sys.argv[1:]:
    kind, path = argument.split("=", 1)
    model = MODELS[kind].oscal_read(pathlib.Path(path))
    if model is None:
        sys.exit(f"{path}: trestle read nothing (missing file?)")
    if kind == "assessment-results":
        result = model.results[0]
        summary[kind] = {
            "findings": len(result.findings or []),
            "observations": len(result.observations or []),
            "satisfied": sum(
                1
                for f in result.findings or []
                if getattr(f.target.status.state, "value", f.target.status.state) == "satisfied"
            ),
            "import-ap": model.import_ap.href,
        }
    elif kind == "component-definition":
        summary[kind] = {
            "components": len(model.components or []),
            "statements": sum(
                len(r.statements or [])
                for c in model.components or []
                for i in c.control_implementations or []
                for r in i.implemented_requirements
            ),
        }
    else:
        summary[kind] = {"controls": len(model.reviewed_controls.control_selections)}
print(json.dumps(summary))
