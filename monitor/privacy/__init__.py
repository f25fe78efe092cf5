"""People's rights over what is held about them: everything held about one person (`holdings`),
written out for a subject access request (`access_request`) or erased (`erasure`), and the
description a school's data protection impact assessment needs (`describe`)."""
