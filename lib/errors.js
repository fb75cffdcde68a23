'use strict'
// Argument errors in the style of Node's own: TypeError / RangeError with a
// `code` and a message that names the argument.

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

function invalidArgType (name, expected, value) {
  const err = new TypeError(`The "${name}" argument must be ${expected}. Received ${describe(value)}`)
  err.code = 'ERR_INVALID_ARG_TYPE'
  return err
}

function outOfRange (name, range, value) {
  const err = new RangeError(`The value of "${name}" is out of range. It must be ${range}. Received ${String(value)}`)
  err.code = 'ERR_OUT_OF_RANGE'
  return err
}

function invalidArgValue (name, reason, value) {
  const err = new TypeError(`The argument '${name}' ${reason}. Received ${describe(value)}`)
  err.code = 'ERR_INVALID_ARG_VALUE'
  return err
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
  describe,
  invalidArgType,
  outOfRange,
  invalidArgValue,
  validateInteger,
  validateObject,
  validateString
}
