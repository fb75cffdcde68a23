'use strict'
// The one error vocabulary. Every error napi-async-trace throws carries a
// `code` from NAT_ERRNO_MAP (include/napi_async_trace_defs.h), as
// generated into ./errno.js: NAT_EINVAL as a TypeError, NAT_ERANGE and
// NAT_ENAMETOOLONG as RangeErrors, everything else as an Error. Messages
// follow Node's own argument errors and name the argument. Throw through
// these helpers, never with a hand-made code.
const codes = require('./errno.js')

function errorClass (code) {
  if (code === 'NAT_EINVAL') return TypeError
  if (code === 'NAT_ERANGE' || code === 'NAT_ENAMETOOLONG') return RangeError
  return Error
}

// An error with `code` (one of ./errno.js) and `message` (the map's text
// when omitted); `cause` (optional) is the error underneath, e.g. the file
// system's ENOENT under NAT_EIO.
function natError (code, message, cause) {
  const entry = codes[code]
  if (entry === undefined) throw new Error(`napi-async-trace: ${code} is not an error code of NAT_ERRNO_MAP`)
  const Class = errorClass(code)
  const err = new Class(message === undefined ? entry.message : message, cause === undefined ? undefined : { cause })
  err.code = code
  return err
}

function describe (value) {
  if (value === null) return 'null'
  if (value === undefined) return 'undefined'
  if (typeof value === 'function') return `function ${value.name || '<anonymous>'}`
  if (typeof value === 'object') {
    const ctor = value.constructor && value.constructor.name
    return ctor ? `an instance of ${ctor}` : 'an object'
  }
  let shown = String(value)
  if (shown.length > 28) shown = `${shown.slice(0, 25)}...`
  if (typeof value === 'string') shown = `'${shown}'`
  return `type ${typeof value} (${shown})`
}

// A value of the wrong type: NAT_EINVAL (TypeError).
function invalidArgType (name, expected, value) {
  return natError('NAT_EINVAL', `The "${name}" argument must be ${expected}. Received ${describe(value)}`)
}

// A number outside its range: NAT_ERANGE (RangeError).
function outOfRange (name, range, value) {
  return natError('NAT_ERANGE', `The value of "${name}" is out of range. It must be ${range}. Received ${String(value)}`)
}

// A value of the right type that is not accepted: NAT_EINVAL (TypeError).
function invalidArgValue (name, reason, value) {
  return natError('NAT_EINVAL', `The argument '${name}' ${reason}. Received ${describe(value)}`)
}

function validateInteger (value, name, min, max) {
  if (typeof value !== 'number') throw invalidArgType(name, 'of type number', value)
  if (!Number.isInteger(value)) throw outOfRange(name, 'an integer', value)
  if (value < min || value > max) throw outOfRange(name, `>= ${min} && <= ${max}`, value)
  return value
}

function validateObject (value, name) {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw invalidArgType(name, 'of type object', value)
  }
  return value
}

function validateString (value, name) {
  if (typeof value !== 'string') throw invalidArgType(name, 'of type string', value)
  return value
}

module.exports = {
  codes,
  errorClass,
  natError,
  describe,
  invalidArgType,
  outOfRange,
  invalidArgValue,
  validateInteger,
  validateObject,
  validateString
}
