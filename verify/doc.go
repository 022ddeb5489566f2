// Package verify composes seatrx's receipt verification: package receipt
// checks the receipt itself, and the EAR inside it is judged by
// evidence/ear, the same code that judges EARs on the wire (receipt does not
// import evidence; the EAR check is injected as a receipt.EARChecker).
package verify
